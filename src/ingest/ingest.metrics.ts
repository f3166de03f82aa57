import { Injectable, Optional } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { Counter } from 'prom-client';
import type { AppConfig } from '../config/config.schema';
import type { CappedCounter, CappedGauge } from '../metrics/capped-metrics';
import { MetricsService } from '../metrics/metrics.service';
import { StateService } from '../state/state.service';
import type { TextApplied, TextRestore } from '../state/text-totals';
import { BODY_BYTES_BUCKETS } from './body-bytes-buckets';
import { CountsHistogram } from './counts-histogram';
import { REJECTION_REASONS, type RejectionReason } from './report-rejected.exception';
import type { TextReport } from './wasm-callback.request';

/** The metrics of seed-style reports on POST /wasmCallback. */
@Injectable()
export class IngestMetrics {
  private readonly reports: CappedCounter<'msg'>;
  private readonly params: CappedCounter<'key' | 'value'>;
  private readonly lastReceived: CappedGauge<'msg'>;
  private readonly bodyBytes: CountsHistogram;
  private readonly rejected: Counter<'reason'>;
  private readonly paramLabels: ReadonlySet<string>;

  constructor(
    metrics: MetricsService,
    config: ConfigService<AppConfig, true>,
    @Optional() private readonly state?: StateService,
  ) {
    this.paramLabels = new Set(config.get('PARAM_LABELS', { infer: true }));
    this.reports = metrics.counter('mesha_reports_total', 'Reports accepted, by melonMsg header', [
      'msg',
    ]);
    this.params = metrics.counter(
      'mesha_report_params_total',
      'Query parameters of accepted reports whose key is listed in PARAM_LABELS, by key and value',
      ['key', 'value'],
    );
    this.lastReceived = metrics.gauge(
      'mesha_report_last_received_timestamp_seconds',
      'When the last report with this melonMsg was accepted (Unix time, seconds)',
      ['msg'],
    );
    this.bodyBytes = new CountsHistogram(
      'mesha_report_body_bytes',
      'Body size of accepted reports, in bytes',
      BODY_BYTES_BUCKETS,
    );
    metrics.register(this.bodyBytes);
    this.rejected = new Counter({
      name: 'mesha_rejected_reports_total',
      help: 'Reports refused with a 4xx, by reason',
      labelNames: ['reason'],
      registers: [metrics.registry],
    });
    for (const reason of REJECTION_REASONS) this.rejected.inc({ reason }, 0);
    const kept = state?.restoreText(); // durable state (#12), with STATE_DIR
    if (kept) this.restore(kept);
  }

  accepted(report: TextReport): void {
    this.reports.inc({ msg: report.melonMsg });
    this.lastReceived.set({ msg: report.melonMsg }, report.receivedAtMs / 1000);
    this.bodyBytes.observe(report.body.length);
    if (this.paramLabels.size === 0) return;
    for (const [key, value] of report.params) {
      if (this.paramLabels.has(key)) this.params.inc({ key, value });
    }
  }

  /** What accepted(report) adds, as the durable state keeps it (only built with STATE_DIR). */
  applied(report: TextReport): TextApplied {
    const params: Array<[string, string]> = [];
    for (const [key, value] of report.params) {
      if (this.paramLabels.has(key)) params.push([key, value]);
    }
    return {
      msg: report.melonMsg,
      atMs: report.receivedAtMs,
      bodyBytes: report.body.length,
      params,
    };
  }

  rejectedReport(reason: RejectionReason): void {
    this.rejected.inc({ reason });
    this.state?.recordRejected(reason);
  }

  /** Totals kept before a restart; they pass through the series guards like any update. */
  private restore(kept: TextRestore): void {
    for (const [msg, n, lastMs] of kept.reports) {
      this.reports.inc({ msg }, n);
      this.lastReceived.set({ msg }, lastMs / 1000);
    }
    for (const [key, value, n] of kept.params) this.params.inc({ key, value }, n);
    this.bodyBytes.add(kept.body.buckets, kept.body.sum);
    for (const [reason, n] of kept.rejected) {
      if ((REJECTION_REASONS as readonly string[]).includes(reason)) {
        this.rejected.inc({ reason }, n);
      }
    }
  }
}
