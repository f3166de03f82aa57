import { Injectable } from '@nestjs/common';
import { ReportsService } from '../reports/reports.service';
import { StateService } from '../state/state.service';
import { IngestMetrics } from './ingest.metrics';
import { ReportLog } from './report-log';
import type { TextReport } from './wasm-callback.request';

export const ACK = 'receive wasm callback request status ok';

/** Applies an accepted report: one log line, then the metrics. */
@Injectable()
export class IngestService {
  constructor(
    private readonly log: ReportLog,
    private readonly metrics: IngestMetrics,
    private readonly reports: ReportsService,
    private readonly state: StateService,
  ) {}

  acceptText(report: TextReport): string {
    this.log.textReport(report);
    this.metrics.accepted(report);
    return ACK;
  }

  /** A structured report (application/json): validated, applied once, logged as a summary. */
  async acceptStructured(report: TextReport): Promise<string> {
    const summary = this.reports.accept(report.body, report.receivedAtMs);
    await this.state.durable(); // durable state (#12): acknowledged only once on disk
    this.log.structuredReport(report, summary);
    if (!summary.duplicate) this.metrics.accepted(report);
    return ACK;
  }
}
