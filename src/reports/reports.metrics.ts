import { Injectable } from '@nestjs/common';
import { Counter, Gauge } from 'prom-client';
import type { CappedCounter, CappedGauge } from '../metrics/capped-metrics';
import type { Labels } from '../metrics/series-guard';
import { MetricsService } from '../metrics/metrics.service';
import { BucketHistogram } from './bucket-histogram';
import { BUCKET_BOUNDS_MS } from './report-validator';
import type { ReportV1 } from './report.types';

type Observed = 'source_workload' | 'source_namespace' | 'method' | 'code' | 'route';
const OBSERVED: readonly Observed[] = [
  'source_workload',
  'source_namespace',
  'method',
  'code',
  'route',
];

/** Who caused a series: one workload gets at most SERIES_SOURCE_SHARE of a metric's series. */
const SOURCE: readonly Observed[] = ['source_workload', 'source_namespace'];

/** The metrics of structured (traffic-mode) reports: what the sidecars observed. */
@Injectable()
export class ReportsMetrics {
  private readonly requests: CappedCounter<Observed>;
  private readonly bytes: CappedCounter<Observed | 'direction'>;
  private readonly duration: BucketHistogram<Observed>;
  private readonly lastSeen: CappedGauge<
    'reporter_workload' | 'reporter_namespace' | 'reporter_pod'
  >;
  private readonly duplicates: Counter;

  constructor(metrics: MetricsService) {
    this.requests = metrics.counter(
      'mesha_observed_requests_total',
      'Requests the reporting sidecars observed, by source workload, method, status class and route',
      OBSERVED,
      { sourceLabels: SOURCE },
    );
    this.bytes = metrics.counter(
      'mesha_observed_bytes_total',
      'Bytes of the observed requests (direction="in") and responses (direction="out")',
      ['direction', ...OBSERVED],
      { sourceLabels: SOURCE },
    );
    this.duration = new BucketHistogram(
      'mesha_observed_request_duration_seconds',
      'Duration of the observed requests (stream start to response headers), in seconds',
      OBSERVED,
      BUCKET_BOUNDS_MS.map((ms) => ms / 1000),
    );
    this.duration.guardedBy(
      metrics.guard(this.duration.name, OBSERVED, (labels) => this.duration.remove(labels), {
        sourceLabels: SOURCE,
        linesPerSeries: BUCKET_BOUNDS_MS.length + 3,
      }),
    );
    metrics.register(this.duration);
    this.lastSeen = metrics.gauge(
      'mesha_reporter_last_seen_timestamp_seconds',
      'When a report (new or re-sent) last arrived from this sidecar (Unix time, seconds)',
      ['reporter_workload', 'reporter_namespace', 'reporter_pod'],
      { sourceLabels: ['reporter_workload', 'reporter_namespace'] },
    );
    this.duplicates = new Counter({
      name: 'mesha_duplicate_reports_total',
      help: 'Structured reports received again (same reporter id and seq), acknowledged and not counted',
      registers: [metrics.registry],
    });
  }

  /** The live-reporters gauge reads its value from `liveReporters` at each scrape (no stale count). */
  trackReporters(metrics: MetricsService, liveReporters: () => number): void {
    new Gauge({
      name: 'mesha_reporters',
      help: 'Live reporters: reporter ids seen within REPORTER_LIVE_SECONDS (at most MAX_REPORTERS)',
      registers: [metrics.registry],
      collect() {
        this.set(liveReporters());
      },
    });
  }

  seen(report: Pick<ReportV1, 'source'>, nowMs: number): void {
    this.lastSeen.set(
      {
        reporter_workload: report.source.workload,
        reporter_namespace: report.source.namespace,
        reporter_pod: report.source.pod,
      },
      nowMs / 1000,
    );
  }

  duplicate(): void {
    this.duplicates.inc();
  }

  applied(report: ReportV1): void {
    const { workload, namespace } = report.source;
    for (const count of report.counts) {
      const labels = {
        source_workload: workload,
        source_namespace: namespace,
        method: count.method,
        code: count.code,
        route: count.route,
      };
      // Requests and duration have the same label names: one series key serves both.
      const key = this.requests.keyOf(labels);
      this.requests.inc(labels, count.n, key);
      this.duration.add(labels, count.duration_buckets, count.duration_sum_ms / 1000, key);
      if (count.bytes_in > 0) this.bytes.inc(withDirection('in', labels), count.bytes_in);
      if (count.bytes_out > 0) this.bytes.inc(withDirection('out', labels), count.bytes_out);
    }
  }
}

/** The byte counters' labels (written out: a spread per update cost more than the rest of it). */
function withDirection(
  direction: 'in' | 'out',
  labels: Labels<Observed>,
): Labels<Observed | 'direction'> {
  return {
    direction,
    source_workload: labels.source_workload,
    source_namespace: labels.source_namespace,
    method: labels.method,
    code: labels.code,
    route: labels.route,
  };
}
