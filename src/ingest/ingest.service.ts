import { Injectable } from '@nestjs/common';
import { IngestMetrics } from './ingest.metrics';
import { ReportLog } from './report-log';
import type { TextReport } from './wasm-callback.request';

export const ACK = 'receive wasm callback request status ok';

/** Applies an accepted seed-style report: one log line, then the metrics. */
@Injectable()
export class IngestService {
  constructor(
    private readonly log: ReportLog,
    private readonly metrics: IngestMetrics,
  ) {}

  acceptText(report: TextReport): string {
    this.log.textReport(report);
    this.metrics.accepted(report);
    return ACK;
  }
}
