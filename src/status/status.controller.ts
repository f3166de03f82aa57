import { Controller, Get, Header } from '@nestjs/common';
import { renderStatusPage, STATUS_PAGE_CSP } from './status-page';
import { StatusService, type StatusSnapshot } from './status.service';

@Controller()
export class StatusController {
  constructor(private readonly status: StatusService) {}

  /** The status page: server-rendered, self-contained, reloads itself. */
  @Get()
  @Header('content-type', 'text/html; charset=utf-8')
  @Header('content-security-policy', STATUS_PAGE_CSP)
  @Header('cache-control', 'no-store')
  @Header('x-content-type-options', 'nosniff')
  @Header('referrer-policy', 'no-referrer')
  async page(): Promise<string> {
    return renderStatusPage(await this.status.snapshot());
  }

  /** The same facts as JSON. */
  @Get('api/v1/status')
  @Header('cache-control', 'no-store')
  snapshot(): Promise<StatusSnapshot> {
    return this.status.snapshot();
  }
}
