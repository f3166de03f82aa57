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
import { renderExposition, type RenderedBody } from './exposition';
import { MemoryBudget, memorySettings, type MemorySettings } from './memory-budget';
import {
  OPENMETRICS_CONTENT_TYPE,
  PROMETHEUS_CONTENT_TYPE,
  type RegisteredMetric,
} from './openmetrics';
import { RenderCoalescer } from './render-coalescer';
import { SeriesGuard, type Labels, type SeriesLimits } from './series-guard';
import { UpdateTime } from './update-time';

const DUPLICATE_TOTAL_GAUGES = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

export interface RenderedMetrics {
  contentType: string;
  body: string;
}

/** A render as bytes: what GET /metrics sends, one Buffer shared by all the scrapes it serves. */
export interface RenderedMetricsBody {
  contentType: string;
  body: Buffer;
}

/** Options of a capped metric beyond its name, help and labels. */
export interface CappedMetricOptions<L extends string> {
  /**
   * The labels that name who caused a series (e.g. source workload and namespace): one such source
   * gets at most SERIES_SOURCE_SHARE of the metric's series.
   */
  sourceLabels?: readonly L[];
}

/** Options of a guard for a custom collector. */
export interface GuardCreateOptions<L extends string> extends CappedMetricOptions<L> {
  /** Exposition lines per series (1 for counters and gauges; a histogram: buckets + 3 with +Inf). */
  linesPerSeries?: number;
}

const RENDER_SECONDS_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * Owns mesha's registry. Metrics whose label values come from the network are created here, so
 * that every one of them is capped (MAX_SERIES, overflow series, value length) and expires (TTL).
 */
@Injectable()
export class MetricsService implements OnModuleDestroy {
  readonly registry = new Registry();
  readonly limits: SeriesLimits;
  private readonly guards: Array<SeriesGuard<string>> = [];
  /** The memory limit and the series budget derived from it (see README, Limits and hostile clients). */
  readonly memory: MemorySettings;
  /** Shared by every capped metric and guard created here. */
  readonly budget: MemoryBudget;
  private readonly sourceShare: number;
  private readonly linesPerSlice: number;
  private readonly seriesDropped: Counter<'metric'>;
  private readonly renderSeconds: Histogram;
  private readonly renderBytes: Gauge;
  private readonly coalescers: Record<'text' | 'openMetrics', RenderCoalescer<RenderedBody>>;
  private readonly sweepTimer: NodeJS.Timeout | undefined;
  private readonly updateTime: UpdateTime;

  constructor(config: ConfigService<AppConfig, true>, @Inject(CLOCK) clock: Clock) {
    this.updateTime = new UpdateTime(clock);
    this.limits = {
      maxSeries: config.get('MAX_SERIES', { infer: true }),
      ttlMs: config.get('SERIES_TTL_SECONDS', { infer: true }) * 1000,
      maxValueChars: config.get('LABEL_VALUE_MAX_CHARS', { infer: true }),
    };
    this.memory = memorySettings({
      limitBytes: config.get('MEMORY_LIMIT_BYTES', { infer: true }),
      budgetBytes: config.get('MEMORY_BUDGET_BYTES', { infer: true }),
    });
    this.budget = new MemoryBudget(this.memory.budgetBytes);
    this.sourceShare = config.get('SERIES_SOURCE_SHARE', { infer: true });
    this.linesPerSlice = config.get('METRICS_RENDER_SLICE_LINES', { infer: true });
    const coalesceMs = config.get('METRICS_COALESCE_MS', { infer: true });
    this.coalescers = {
      text: new RenderCoalescer(() => this.renderNow(false), coalesceMs),
      openMetrics: new RenderCoalescer(() => this.renderNow(true), coalesceMs),
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
    this.renderSeconds = new Histogram({
      name: 'mesha_metrics_render_seconds',
      help: 'Time to render /metrics (one render serves every scrape that arrived while it ran)',
      buckets: RENDER_SECONDS_BUCKETS,
      registers: [this.registry],
    });
    this.renderBytes = new Gauge({
      name: 'mesha_metrics_render_bytes',
      help: 'Size of the last /metrics body, in bytes',
      registers: [this.registry],
    });
    const budget = this.budget;
    new Gauge({
      name: 'mesha_memory_budget_bytes',
      help: 'Memory the series of all capped metrics may take (MEMORY_BUDGET_BYTES or derived from the memory limit)',
      registers: [this.registry],
      collect() {
        this.set(budget.bytes);
      },
    });
    const guards = this.guards;
    new Gauge({
      name: 'mesha_series',
      help: 'Label sets in use per capped metric, the overflow series included',
      labelNames: ['metric'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const guard of guards) this.set({ metric: guard.metric }, guard.size);
      },
    });
    new Gauge({
      name: 'mesha_series_limit',
      help: 'Label sets a capped metric can hold now: MAX_SERIES, or fewer when the memory budget runs out first',
      labelNames: ['metric'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const guard of guards) this.set({ metric: guard.metric }, guard.limit);
      },
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
    options: CappedMetricOptions<L> = {},
  ): CappedCounter<L> {
    const metric = new Counter<L>({ name, help, labelNames, registers: [this.registry] });
    return this.summed(name, metric, labelNames, options, (g) => new CappedCounter(metric, g));
  }

  gauge<L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[],
    options: CappedMetricOptions<L> = {},
  ): CappedGauge<L> {
    const metric = new Gauge<L>({ name, help, labelNames, registers: [this.registry] });
    return this.summed(name, metric, labelNames, options, (g) => new CappedGauge(metric, g));
  }

  /**
   * A capped metric that holds pending updates (counter, gauge): when the guard expires a series,
   * both its pending update and prom-client's series go.
   */
  private summed<L extends string, C extends { forget(labels: Labels<L>): void }>(
    name: string,
    metric: Counter<L> | Gauge<L>,
    labelNames: readonly L[],
    options: CappedMetricOptions<L>,
    wrap: (guard: SeriesGuard<L>) => C,
  ): C {
    // The guard's expiry callback needs the capped metric, which is created after the guard.
    const ref: { capped?: C } = {};
    const capped = wrap(
      this.guard(
        name,
        labelNames,
        (labels) => {
          ref.capped?.forget(labels);
          metric.remove(labels);
        },
        options,
      ),
    );
    ref.capped = capped;
    return capped;
  }

  histogram<L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[],
    buckets: number[],
    options: CappedMetricOptions<L> = {},
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
      this.guard(name, labelNames, (labels) => metric.remove(labels), {
        ...options,
        linesPerSeries: buckets.length + 3,
      }),
    );
  }

  /**
   * Runs `apply` (a report's updates) with every series it updates stamped `nowMs`, the time the
   * report was received, instead of the clock's time at each update.
   */
  at<T>(nowMs: number, apply: () => T): T {
    return this.updateTime.during(nowMs, apply);
  }

  /**
   * A guard for a custom collector; `onExpired` must delete the series it is given. Its series
   * count against MAX_SERIES and the shared memory budget like those of the metrics above.
   */
  guard<L extends string>(
    metric: string,
    labelNames: readonly L[],
    onExpired: (labels: Labels<L>) => void,
    options: GuardCreateOptions<L> = {},
  ): SeriesGuard<L> {
    const guard = new SeriesGuard<L>(
      metric,
      labelNames,
      this.limits,
      this.updateTime,
      (name) => this.seriesDropped.inc({ metric: name }),
      onExpired,
      {
        budget: this.budget.account(),
        linesPerSeries: options.linesPerSeries ?? 1,
        sourceLabels: options.sourceLabels,
        sourceShare: this.sourceShare,
      },
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
      limit: guard.limit,
    }));
  }

  /** Drops every series idle for longer than SERIES_TTL_SECONDS. */
  sweep(): void {
    for (const guard of this.guards) guard.sweep();
  }

  /** The exposition as text (see renderBody). */
  async render(openMetrics: boolean): Promise<RenderedMetrics> {
    const { contentType, body } = await this.renderBody(openMetrics);
    return { contentType, body: body.toString('utf8') };
  }

  /**
   * The exposition as one Buffer, coalesced: concurrent (and pipelined) scrapes share a render, and
   * renders are METRICS_COALESCE_MS apart at least. Rendering yields to the event loop as it goes.
   */
  async renderBody(openMetrics: boolean): Promise<RenderedMetricsBody> {
    const { body } = await this.coalescers[openMetrics ? 'openMetrics' : 'text'].get();
    return { contentType: openMetrics ? OPENMETRICS_CONTENT_TYPE : PROMETHEUS_CONTENT_TYPE, body };
  }

  private async renderNow(openMetrics: boolean): Promise<RenderedBody> {
    this.sweep();
    const metrics = this.registry.getMetricsAsArray() as unknown as RegisteredMetric[];
    const rendered = await renderExposition(metrics, openMetrics, this.linesPerSlice);
    this.renderSeconds.observe(rendered.seconds);
    this.renderBytes.set(rendered.body.length);
    return rendered;
  }
}
