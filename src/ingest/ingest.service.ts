import { Injectable } from '@nestjs/common';
import { ReportsService, type ReportSummary } from '../reports/reports.service';
import { StateWriteError } from '../state/state-log';
import { StateService } from '../state/state.service';
import { IngestMetrics } from './ingest.metrics';
import { ReportNotDurable } from './report-not-durable.exception';
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

  acceptText(report: TextReport): string | Promise<string> {
    if (this.state.enabled) return this.acceptTextDurably(report);
    this.log.textReport(report);
    this.metrics.accepted(report);
    return ACK;
  }

  /** With STATE_DIR (#12): written to the state log first, applied and acknowledged once on disk. */
  private async acceptTextDurably(report: TextReport): Promise<string> {
    try {
      await this.state.recordText(this.metrics.applied(report), () => {
        this.log.textReport(report);
        this.metrics.accepted(report);
      });
    } catch (err) {
      throw notDurable(err);
    }
    this.log.flush();
    return ACK;
  }

  /**
   * A structured report (application/json): validated, applied once, logged as a summary; answered
   * at once without durable state, once on disk with it.
   */
  acceptStructured(report: TextReport): string | Promise<string> {
    const summary = this.reports.accept(report.body, report.receivedAtMs);
    if (!summary.duplicate) {
      this.metrics.accepted(report);
      if (this.state.enabled) this.state.recordAccepted(this.metrics.applied(report));
    }
    if (!this.state.enabled) {
      this.log.structuredReport(report, summary);
      return ACK;
    }
    return this.acknowledgeDurably(report, summary);
  }

  private async acknowledgeDurably(report: TextReport, summary: ReportSummary): Promise<string> {
    try {
      await this.state.durable(); // durable state (#12): acknowledged only once on disk
    } catch (err) {
      throw notDurable(err);
    }
    this.log.structuredReport(report, summary);
    // With durable state a report's log line reaches stdout before its 200, as its numbers reach
    // the disk (the log is buffered otherwise; see log-destination.ts).
    this.log.flush();
    return ACK;
  }
}

function notDurable(err: unknown): unknown {
  return err instanceof StateWriteError ? new ReportNotDurable(err) : err;
}
