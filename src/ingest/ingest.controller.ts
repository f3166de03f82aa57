import { Controller, Header, HttpCode, Inject, Post, Req } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { CLOCK, type Clock } from '../common/clock';
import { IngestService } from './ingest.service';
import { reportBodyKind } from './report-content-type';
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
  receive(@Req() request: FastifyRequest): string | Promise<string> {
    const kind = reportBodyKind(request.headers['content-type']);
    const report = parseTextReport(request, this.clock.now());
    return kind === 'json' ? this.ingest.acceptStructured(report) : this.ingest.acceptText(report);
  }
}
