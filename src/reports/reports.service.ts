import { Inject, Injectable, Optional } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { CLOCK, type Clock } from '../common/clock';
import type { AppConfig } from '../config/config.schema';
import { ReportRejected } from '../ingest/report-rejected.exception';
import { MetricsService } from '../metrics/metrics.service';
import { LiveReporters, type ReporterView } from './live-reporters';
import { StateService } from '../state/state.service';
import { checkReport } from './report-validator';
import type { ReportV1 } from './report.types';
import type { ReportVersion, StructuredReport } from './report-version';
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

/**
 * Structured (traffic-mode) reports: parsed, validated against report-v1.schema.json and applied
 * exactly once per (reporter id, seq). A refused report changes nothing.
 */
@Injectable()
export class ReportsService {
  private readonly dedupe: SeqDedupe;
  private readonly live: LiveReporters;
  /** Report versions besides 1, by `v` (registered by the features that own them), with their steps. */
  private readonly versions = new Map<number, Registered>();
  private readonly maxSeqGap: number;
  private readonly v1: ApplySteps<ReportV1> = {
    apply: (report) => this.metrics.applied(report),
    record: (report, atMs) => this.state?.record(report, atMs),
    size: (report) => ({
      counts: report.counts.length,
      requests: report.counts.reduce((total, count) => total + count.n, 0),
    }),
  };

  constructor(
    private readonly metrics: ReportsMetrics,
    private readonly registry: MetricsService,
    config: ConfigService<AppConfig, true>,
    @Inject(CLOCK) private readonly clock: Clock,
    @Optional() private readonly state?: StateService,
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
    // Durable state (#12): what was applied before the last stop, when STATE_DIR is set.
    state?.restoreInto({
      applied: (report) => metrics.applied(report),
      firstTime: (id, seq, atMs) => this.dedupe.firstTime(id, seq, atMs),
      seen: (identity, atMs) => this.live.seen(identity, atMs),
    });
  }

  /** Adds a report version (e.g. v2, Istio's metrics); `v` in the body selects it. */
  registerVersion<R extends StructuredReport>(handler: ReportVersion<R>): void {
    const version = handler as unknown as ReportVersion;
    this.versions.set(handler.version, { handler: version, steps: this.stepsOf(version) });
    if (handler.durable) this.state?.restoreVersion(handler.version, handler.durable); // #12
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
    const versioned = this.versionOf(parsed);
    if (versioned) return this.acceptVersioned(versioned, parsed, receivedAtMs);
    const check = checkReport(parsed);
    if (!check.ok) throw new ReportRejected('invalid_report', `invalid report: ${check.problem}`);
    return this.applyOnce(check.report, receivedAtMs, this.v1);
  }

  /** How many reporters are live, and up to `limit` of them, the stalest first (the status page). */
  liveReporters(limit: number): { live: number; shown: ReporterView[] } {
    const now = this.clock.now();
    return { live: this.live.count(now), shown: this.live.list(now, limit) };
  }

  /** A seq far ahead of what the reporter has sent would make its real reports duplicates. */
  private refuseSeqGap({ id, seq }: { id: string; seq: number }): void {
    const highest = this.dedupe.tooFarAhead(id, seq);
    if (highest === undefined) return;
    throw new ReportRejected(
      'seq_gap',
      `/reporter/seq: ${seq} is more than SEQ_MAX_GAP (${this.maxSeqGap}) ahead of ` +
        `the highest seq received from this reporter (${highest})`,
    );
  }

  private versionOf(parsed: unknown): Registered | undefined {
    if (typeof parsed !== 'object' || parsed === null || !('v' in parsed)) return undefined;
    const v = (parsed as { v: unknown }).v;
    return typeof v === 'number' ? this.versions.get(v) : undefined;
  }

  /** The same steps as for v1, with the version's own checks and metrics. */
  private acceptVersioned(
    { handler, steps }: Registered,
    parsed: unknown,
    receivedAtMs: number,
  ): ReportSummary {
    const check = handler.check(parsed);
    if (!check.ok) throw new ReportRejected('invalid_report', `invalid report: ${check.problem}`);
    return this.applyOnce(check.report, receivedAtMs, steps);
  }

  /** Exactly once per (reporter id, seq): liveness and last-seen always, the metrics and the state once. */
  private applyOnce<R extends StructuredReport>(
    report: R,
    receivedAtMs: number,
    steps: ApplySteps<R>,
  ): ReportSummary {
    this.refuseSeqGap(report.reporter);
    const first = this.dedupe.firstTime(report.reporter.id, report.reporter.seq, receivedAtMs);
    this.live.seen(report, receivedAtMs, !first);
    this.registry.at(receivedAtMs, () => {
      this.metrics.seen(report, receivedAtMs);
      if (first) steps.apply(report);
    });
    if (!first) this.metrics.duplicate();
    if (first) steps.record(report, receivedAtMs); // durable state (#12): see IngestService
    return {
      reporterId: report.reporter.id,
      seq: report.reporter.seq,
      workload: report.source.workload,
      namespace: report.source.namespace,
      ...steps.size(report),
      duplicate: !first,
    };
  }

  private stepsOf(handler: ReportVersion): ApplySteps<StructuredReport> {
    return {
      apply: (report) => handler.apply(report),
      record: (report, atMs) =>
        this.state?.recordVersion(handler.version, report, handler.durable, atMs),
      size: (report) => handler.size(report),
    };
  }
}

interface Registered {
  handler: ReportVersion;
  steps: ApplySteps<StructuredReport>;
}

/** What differs between report versions once a report is checked: its metrics, its record, its size. */
interface ApplySteps<R extends StructuredReport> {
  apply(report: R): void;
  record(report: R, atMs: number): void;
  size(report: R): { counts: number; requests: number };
}
