import { Controller, Header, HttpCode, Inject, Post, Req } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { CLOCK, type Clock } from '../common/clock';
import { isJsonContentType } from '../reports/reports.service';
import { IngestService } from './ingest.service';
import { parseTextReport } from './wasm-callback.request';

export const INGEST_ROUTE = '/wasmCallback';

@Controller()
export class IngestController {
  constructor(
    private readonly ingest: IngestService,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  /**
   * The seed's endpoint: any query, the melonMsg header, a body read as text whatever its type;
   * except application/json, which is a structured report (see src/reports). With AUTH_TOKEN set,
   * requireBearerToken() has checked the token before the body was read.
   */
  @Post(INGEST_ROUTE)
  @HttpCode(200)
  @Header('Content-Type', 'text/plain; charset=utf-8')
  receive(@Req() request: FastifyRequest): string | Promise<string> {
    const report = parseTextReport(request, this.clock.now());
    return isJsonContentType(request.headers['content-type'])
      ? this.ingest.acceptStructured(report)
      : this.ingest.acceptText(report);
  }
}
