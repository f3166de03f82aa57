import { Injectable } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { CappedHistogram } from './capped-metrics';
import { MetricsService } from './metrics.service';

/** Duration of every HTTP request mesha answers, by route template and status code. */
@Injectable()
export class HttpMetrics {
  private readonly duration: CappedHistogram<'method' | 'route' | 'status_code'>;

  constructor(metrics: MetricsService) {
    this.duration = metrics.histogram(
      'mesha_http_request_duration_seconds',
      'Time from request received to response sent, by method, route template and status code',
      ['method', 'route', 'status_code'],
      [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    );
  }

  /** A Fastify onResponse hook. */
  readonly onResponse = (request: FastifyRequest, reply: FastifyReply, done: () => void): void => {
    this.duration.observe(
      {
        method: request.method,
        // Unmatched URLs share one label value: paths from the network must not become series.
        route: request.routeOptions.url ?? 'unmatched',
        status_code: String(reply.statusCode),
      },
      reply.elapsedTime / 1000,
    );
    done();
  };
}
