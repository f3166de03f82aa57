import type { Counter, Gauge, Histogram } from 'prom-client';
import type { Labels, SeriesGuard } from './series-guard';

type Collect = (this: unknown) => void | Promise<void>;

/**
 * Makes prom-client call `flush` whenever it collects `metric` (a scrape, getMetricsAsJSON, get()),
 * before any collect hook the metric already had.
 */
function flushOnCollect(metric: object, flush: () => void): void {
  const target = metric as { collect?: Collect };
  const previous = target.collect;
  target.collect = function (this: unknown) {
    flush();
    return previous?.call(this);
  };
}

/**
 * A prom-client counter whose label sets pass through a SeriesGuard. Increments are summed per
 * series in a Map keyed by the guard's labels object (the same object for every update of a
 * series, so the lookup hashes no string) and handed to prom-client, which hashes the labels,
 * when the metric is collected: at each scrape instead of at each update.
 */
export class CappedCounter<L extends string> {
  private readonly pending = new Map<Labels<L>, number>();

  constructor(
    readonly metric: Counter<L>,
    private readonly guard: SeriesGuard<L>,
  ) {
    flushOnCollect(metric, () => this.flush());
  }

  /** `key`: the guard's keyOf(labels), when the caller has it (see SeriesGuard.admit). */
  inc(labels: Labels<L>, value = 1, key?: string): void {
    const admitted = this.guard.admit(labels, key);
    this.pending.set(admitted, (this.pending.get(admitted) ?? 0) + value);
  }

  keyOf(labels: Labels<L>): string {
    return this.guard.keyOf(labels);
  }

  /** Hands the summed increments to prom-client (called whenever prom-client collects the metric). */
  flush(): void {
    for (const [labels, value] of this.pending) this.metric.inc(labels, value);
    this.pending.clear();
  }

  /** Drops what is pending for a series the guard removed. */
  forget(labels: Labels<L>): void {
    this.pending.delete(labels);
  }
}

/** A prom-client gauge whose label sets pass through a SeriesGuard; set() is applied at collect time. */
export class CappedGauge<L extends string> {
  private readonly pending = new Map<Labels<L>, number>();

  constructor(
    readonly metric: Gauge<L>,
    private readonly guard: SeriesGuard<L>,
  ) {
    flushOnCollect(metric, () => this.flush());
  }

  set(labels: Labels<L>, value: number): void {
    this.pending.set(this.guard.admit(labels), value);
  }

  /** Hands the last value of each series to prom-client (called whenever it collects the metric). */
  flush(): void {
    for (const [labels, value] of this.pending) this.metric.set(labels, value);
    this.pending.clear();
  }

  forget(labels: Labels<L>): void {
    this.pending.delete(labels);
  }
}

/** A prom-client histogram whose label sets pass through a SeriesGuard. */
export class CappedHistogram<L extends string> {
  constructor(
    readonly metric: Histogram<L>,
    private readonly guard: SeriesGuard<L>,
  ) {}

  observe(labels: Labels<L>, value: number): void {
    this.metric.observe(this.guard.admit(labels), value);
  }
}
