import type { Counter, Gauge, Histogram } from 'prom-client';
import type { Labels, SeriesGuard } from './series-guard';

/** A prom-client counter whose label sets pass through a SeriesGuard. */
export class CappedCounter<L extends string> {
  constructor(
    readonly metric: Counter<L>,
    private readonly guard: SeriesGuard<L>,
  ) {}

  inc(labels: Labels<L>, value = 1): void {
    this.metric.inc(this.guard.admit(labels), value);
  }
}

/** A prom-client gauge whose label sets pass through a SeriesGuard. */
export class CappedGauge<L extends string> {
  constructor(
    readonly metric: Gauge<L>,
    private readonly guard: SeriesGuard<L>,
  ) {}

  set(labels: Labels<L>, value: number): void {
    this.metric.set(this.guard.admit(labels), value);
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
