import { Injectable } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import type { ErrorObserver } from '../common/json-errors.filter';
import { INGEST_ROUTE } from './ingest.controller';
import { IngestMetrics } from './ingest.metrics';
import { ReportRejected, type RejectionReason } from './report-rejected.exception';

/** Counts every 4xx answered on the ingest route, including Fastify's own (body too large). */
@Injectable()
export class RejectionObserver implements ErrorObserver {
  constructor(private readonly metrics: IngestMetrics) {}

  observe(request: FastifyRequest, statusCode: number, exception: unknown): void {
    if (request.routeOptions.url !== INGEST_ROUTE || statusCode < 400 || statusCode >= 500) return;
    this.metrics.rejectedReport(reasonOf(statusCode, exception));
  }
}

function reasonOf(statusCode: number, exception: unknown): RejectionReason {
  if (exception instanceof ReportRejected) return exception.reason;
  if (statusCode === 413) return 'too_large';
  if (statusCode === 401) return 'unauthorized';
  return 'bad_request';
}
