import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { Counter, Histogram } from 'prom-client';
import type { AppConfig } from '../config/config.schema';
import type { CappedCounter, CappedGauge } from '../metrics/capped-metrics';
import { MetricsService } from '../metrics/metrics.service';
import { REJECTION_REASONS, type RejectionReason } from './report-rejected.exception';
import type { TextReport } from './wasm-callback.request';

const BODY_BYTES_BUCKETS = [0, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304];

/** The metrics of seed-style reports on POST /wasmCallback. */
@Injectable()
export class IngestMetrics {
  private readonly reports: CappedCounter<'msg'>;
  private readonly params: CappedCounter<'key' | 'value'>;
  private readonly lastReceived: CappedGauge<'msg'>;
  private readonly bodyBytes: Histogram;
  private readonly rejected: Counter<'reason'>;
  private readonly paramLabels: ReadonlySet<string>;

  constructor(metrics: MetricsService, config: ConfigService<AppConfig, true>) {
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
    this.bodyBytes = new Histogram({
      name: 'mesha_report_body_bytes',
      help: 'Body size of accepted reports, in bytes',
      buckets: BODY_BYTES_BUCKETS,
      registers: [metrics.registry],
    });
    this.rejected = new Counter({
      name: 'mesha_rejected_reports_total',
      help: 'Reports refused with a 4xx, by reason',
      labelNames: ['reason'],
      registers: [metrics.registry],
    });
    for (const reason of REJECTION_REASONS) this.rejected.inc({ reason }, 0);
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

  rejectedReport(reason: RejectionReason): void {
    this.rejected.inc({ reason });
  }
}
