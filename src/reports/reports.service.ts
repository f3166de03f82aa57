import { Inject, Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { CLOCK, type Clock } from '../common/clock';
import type { AppConfig } from '../config/config.schema';
import { ReportRejected } from '../ingest/report-rejected.exception';
import { MetricsService } from '../metrics/metrics.service';
import { LiveReporters } from './live-reporters';
import { checkReport } from './report-validator';
import { ReportsMetrics } from './reports.metrics';
import { SeqDedupe } from './seq-dedupe';

/** What the report log line says about a structured report instead of dumping its body. */
export interface ReportSummary {
  reporterId: string;
  seq: number;
  workload: string;
  namespace: string;
  counts: number;
  requests: number;
  duplicate: boolean;
}

/** True for `application/json` (any parameters, any case): the structured report contract. */
export function isJsonContentType(contentType: string | undefined): boolean {
  return contentType !== undefined && /^\s*application\/json\s*(;|$)/i.test(contentType);
}

/**
 * Structured (traffic-mode) reports: parsed, validated against report-v1.schema.json and applied
 * exactly once per (reporter id, seq). A refused report changes nothing.
 */
@Injectable()
export class ReportsService {
  private readonly dedupe: SeqDedupe;
  private readonly live: LiveReporters;
  private readonly maxSeqGap: number;

  constructor(
    private readonly metrics: ReportsMetrics,
    registry: MetricsService,
    config: ConfigService<AppConfig, true>,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {
    const maxReporters = config.get('MAX_REPORTERS', { infer: true });
    this.maxSeqGap = config.get('SEQ_MAX_GAP', { infer: true });
    this.dedupe = new SeqDedupe(
      maxReporters,
      config.get('SERIES_TTL_SECONDS', { infer: true }) * 1000,
      this.maxSeqGap,
    );
    this.live = new LiveReporters(
      config.get('REPORTER_LIVE_SECONDS', { infer: true }) * 1000,
      maxReporters,
    );
    metrics.trackReporters(registry, () => {
      const now = this.clock.now();
      this.dedupe.expire(now);
      return this.live.count(now);
    });
  }

  /** Applies the report in `body` unless it was applied before; throws ReportRejected if invalid. */
  accept(body: Buffer, receivedAtMs: number): ReportSummary {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch (err) {
      const reason = err instanceof Error ? err.message : 'unparsable';
      throw new ReportRejected('invalid_report', `the body is not valid JSON: ${reason}`);
    }
    const check = checkReport(parsed);
    if (!check.ok) throw new ReportRejected('invalid_report', `invalid report: ${check.problem}`);
    const report = check.report;
    const highest = this.dedupe.tooFarAhead(report.reporter.id, report.reporter.seq);
    if (highest !== undefined) {
      throw new ReportRejected(
        'seq_gap',
        `/reporter/seq: ${report.reporter.seq} is more than SEQ_MAX_GAP (${this.maxSeqGap}) ahead of ` +
          `the highest seq received from this reporter (${highest})`,
      );
    }

    const first = this.dedupe.firstTime(report.reporter.id, report.reporter.seq, receivedAtMs);
    this.live.seen(report.reporter.id, receivedAtMs);
    this.metrics.seen(report, receivedAtMs);
    if (first) this.metrics.applied(report);
    else this.metrics.duplicate();
    return {
      reporterId: report.reporter.id,
      seq: report.reporter.seq,
      workload: report.source.workload,
      namespace: report.source.namespace,
      counts: report.counts.length,
      requests: report.counts.reduce((total, count) => total + count.n, 0),
      duplicate: !first,
    };
  }
}
