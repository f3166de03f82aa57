import { Controller, Get, Headers, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { MetricsService } from './metrics.service';
import { prefersOpenMetrics } from './openmetrics';

@Controller()
export class MetricsController {
  constructor(private readonly metrics: MetricsService) {}

  /** Prometheus text by default; OpenMetrics when the scraper's Accept header prefers it. */
  @Get('metrics')
  async scrape(@Headers('accept') accept: string | undefined, @Res() reply: FastifyReply) {
    const { contentType, body } = await this.metrics.renderBody(prefersOpenMetrics(accept));
    await reply.type(contentType).send(body);
  }
}
