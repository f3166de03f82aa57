import { Controller, Header, HttpCode, Inject, Post, Req, Res } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { CLOCK, type Clock } from '../common/clock';
import { IngestService } from './ingest.service';
import { reportBodyKind } from './report-content-type';
import { NOT_DURABLE_RETRY_AFTER_SECONDS, ReportNotDurable } from './report-not-durable.exception';
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
   * except application/json, which is a structured report (see src/reports; a charset other than
   * UTF-8 gets 415). With AUTH_TOKEN set,
   * requireBearerToken() has checked the token before the body was read.
   */
  @Post(INGEST_ROUTE)
  @HttpCode(200)
  @Header('Content-Type', 'text/plain; charset=utf-8')
  receive(
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): string | Promise<string> {
    const kind = reportBodyKind(request.headers['content-type']);
    const report = parseTextReport(request, this.clock.now());
    const answer =
      kind === 'json' ? this.ingest.acceptStructured(report) : this.ingest.acceptText(report);
    return typeof answer === 'string' ? answer : answer.catch((err) => retryLater(reply, err));
  }
}

/** A report the durable state could not keep: 503 with Retry-After (the error filter keeps headers). */
function retryLater(reply: FastifyReply, err: unknown): never {
  if (err instanceof ReportNotDurable) {
    void reply.header('retry-after', String(NOT_DURABLE_RETRY_AFTER_SECONDS));
  }
  throw err;
}
