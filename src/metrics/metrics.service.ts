import { Inject, Injectable, OnModuleDestroy } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import {
  collectDefaultMetrics,
  Counter,
  Gauge,
  Histogram,
  Registry,
  type Metric,
} from 'prom-client';
import { CLOCK, type Clock } from '../common/clock';
import type { AppConfig } from '../config/config.schema';
import { CappedCounter, CappedGauge, CappedHistogram } from './capped-metrics';
import {
  OPENMETRICS_CONTENT_TYPE,
  PROMETHEUS_CONTENT_TYPE,
  renderOpenMetrics,
  type RegisteredMetric,
} from './openmetrics';
import { SeriesGuard, type Labels, type SeriesLimits } from './series-guard';

const DUPLICATE_TOTAL_GAUGES = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

export interface RenderedMetrics {
  contentType: string;
  body: string;
}

/**
 * Owns mesha's registry. Metrics whose label values come from the network are created here, so
 * that every one of them is capped (MAX_SERIES, overflow series, value length) and expires (TTL).
 */
@Injectable()
export class MetricsService implements OnModuleDestroy {
  readonly registry = new Registry();
  readonly limits: SeriesLimits;
  private readonly guards: Array<SeriesGuard<string>> = [];
  private readonly seriesDropped: Counter<'metric'>;
  private readonly sweepTimer: NodeJS.Timeout | undefined;

  constructor(
    config: ConfigService<AppConfig, true>,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {
    this.limits = {
      maxSeries: config.get('MAX_SERIES', { infer: true }),
      ttlMs: config.get('SERIES_TTL_SECONDS', { infer: true }) * 1000,
      maxValueChars: config.get('LABEL_VALUE_MAX_CHARS', { infer: true }),
    };
    collectDefaultMetrics({ register: this.registry });
    // Gauges named *_total break the naming rules promtool checks; nodejs_active_handles{type}
    // and friends carry the same numbers.
    for (const name of DUPLICATE_TOTAL_GAUGES) this.registry.removeSingleMetric(name);
    this.seriesDropped = new Counter({
      name: 'mesha_series_dropped_total',
      help: 'Updates redirected into the __overflow__ series because their metric already had MAX_SERIES label sets',
      labelNames: ['metric'],
      registers: [this.registry],
    });
    if (this.limits.ttlMs > 0) {
      // Rendering sweeps too; the timer bounds memory when nobody scrapes.
      this.sweepTimer = setInterval(() => this.sweep(), Math.min(this.limits.ttlMs, 60_000));
      this.sweepTimer.unref();
    }
  }

  onModuleDestroy(): void {
    clearInterval(this.sweepTimer);
  }

  counter<L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[],
  ): CappedCounter<L> {
    const metric = new Counter<L>({ name, help, labelNames, registers: [this.registry] });
    return new CappedCounter(
      metric,
      this.guard(name, labelNames, (labels) => metric.remove(labels)),
    );
  }

  gauge<L extends string>(name: string, help: string, labelNames: readonly L[]): CappedGauge<L> {
    const metric = new Gauge<L>({ name, help, labelNames, registers: [this.registry] });
    return new CappedGauge(
      metric,
      this.guard(name, labelNames, (labels) => metric.remove(labels)),
    );
  }

  histogram<L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[],
    buckets: number[],
  ): CappedHistogram<L> {
    const metric = new Histogram<L>({
      name,
      help,
      labelNames,
      buckets,
      registers: [this.registry],
    });
    return new CappedHistogram(
      metric,
      this.guard(name, labelNames, (labels) => metric.remove(labels)),
    );
  }

  /** A guard for a custom collector; `onExpired` must delete the series it is given. */
  guard<L extends string>(
    metric: string,
    labelNames: readonly L[],
    onExpired: (labels: Labels<L>) => void,
  ): SeriesGuard<L> {
    const guard = new SeriesGuard<L>(
      metric,
      labelNames,
      this.limits,
      this.clock,
      (name) => this.seriesDropped.inc({ metric: name }),
      onExpired,
    );
    this.guards.push(guard as unknown as SeriesGuard<string>);
    return guard;
  }

  /** Registers a custom collector (an object prom-client's registry can render). */
  register(metric: RegisteredMetric): void {
    this.registry.registerMetric(metric as unknown as Metric);
  }

  /** Label sets in use per capped metric (the overflow series included) against MAX_SERIES. */
  seriesUsage(): Array<{ metric: string; series: number; limit: number }> {
    return this.guards.map((guard) => ({
      metric: guard.metric,
      series: guard.size,
      limit: this.limits.maxSeries,
    }));
  }

  /** Drops every series idle for longer than SERIES_TTL_SECONDS. */
  sweep(): void {
    for (const guard of this.guards) guard.sweep();
  }

  async render(openMetrics: boolean): Promise<RenderedMetrics> {
    this.sweep();
    return openMetrics
      ? { contentType: OPENMETRICS_CONTENT_TYPE, body: await renderOpenMetrics(this.registry) }
      : { contentType: PROMETHEUS_CONTENT_TYPE, body: await this.registry.metrics() };
  }
}
