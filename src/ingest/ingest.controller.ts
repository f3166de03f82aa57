import { Controller, Header, HttpCode, Inject, Post, Req, UseGuards } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { CLOCK, type Clock } from '../common/clock';
import { BearerAuthGuard } from './bearer-auth.guard';
import { IngestService } from './ingest.service';
import { parseTextReport } from './wasm-callback.request';

export const INGEST_ROUTE = '/wasmCallback';

@Controller()
export class IngestController {
  constructor(
    private readonly ingest: IngestService,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  /** The seed's endpoint: any query, the melonMsg header, a body read as text whatever its type. */
  @Post(INGEST_ROUTE)
  @HttpCode(200)
  @Header('Content-Type', 'text/plain; charset=utf-8')
  @UseGuards(BearerAuthGuard)
  receive(@Req() request: FastifyRequest): string {
    const receivedAtMs = this.clock.now();
    return this.ingest.acceptText(parseTextReport(request, receivedAtMs));
  }
}
