import type { RegisteredMetric } from '../metrics/openmetrics';
import type { Labels, SeriesGuard } from '../metrics/series-guard';

export interface HistogramSeries<L extends string> {
  labels: Labels<L>;
  /** Non-cumulative counts, one per bound, then +Inf. */
  buckets: number[];
  sum: number;
  count: number;
}

export interface HistogramSample {
  metricName: string;
  labels: Record<string, string | number>;
  value: number;
}

/** What a histogram's get() hands the registry to render. */
export interface HistogramObject {
  name: string;
  help: string;
  type: string;
  aggregator: string;
  values: HistogramSample[];
}

export function histogramObject(
  metric: RegisteredMetric,
  values: HistogramSample[],
): HistogramObject {
  const { name, help, type, aggregator } = metric;
  return { name, help, type, aggregator, values };
}

/** Adds non-cumulative `buckets` and their `sum` to `series`. */
export function addCounts<L extends string>(
  series: HistogramSeries<L>,
  buckets: readonly number[],
  sum: number,
): void {
  for (let i = 0; i < buckets.length; i++) {
    series.buckets[i] += buckets[i];
    series.count += buckets[i];
  }
  series.sum += sum;
}

/** Appends a series' samples as prom-client renders a histogram: cumulative `_bucket{le}`, `_sum`, `_count`. */
export function pushSamples<L extends string>(
  values: HistogramSample[],
  name: string,
  bounds: readonly number[],
  { labels, buckets, sum, count }: HistogramSeries<L>,
): void {
  let cumulative = 0;
  for (let i = 0; i < buckets.length; i++) {
    cumulative += buckets[i];
    const le = i < bounds.length ? bounds[i] : '+Inf';
    values.push({ metricName: `${name}_bucket`, labels: { le, ...labels }, value: cumulative });
  }
  values.push({ metricName: `${name}_sum`, labels: { ...labels }, value: sum });
  values.push({ metricName: `${name}_count`, labels: { ...labels }, value: count });
}

/**
 * A histogram fed with already-bucketed counts (a report carries per-bucket counts and a sum, not
 * single observations). It renders through prom-client's registry like any histogram: cumulative
 * `_bucket{le}` samples, `_sum` and `_count`. Its label sets pass through a SeriesGuard, and its
 * series are keyed by the labels object the guard answers with (the same object for every update
 * of a series, and the one it hands back on expiry), so an update builds no key.
 */
export class BucketHistogram<L extends string> implements RegisteredMetric {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly series = new Map<Labels<L>, HistogramSeries<L>>();
  private guard!: SeriesGuard<L>;

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly L[],
    /** Upper bounds, in the unit of the metric (seconds). */
    private readonly bounds: readonly number[],
  ) {}

  /** Attaches the guard (created by MetricsService with this histogram's removal callback). */
  guardedBy(guard: SeriesGuard<L>): this {
    this.guard = guard;
    return this;
  }

  /** Removes one series (the guard's TTL callback, with the labels object admit() gave out). */
  remove(labels: Labels<L>): void {
    this.series.delete(labels);
  }

  /**
   * Adds `buckets` (non-cumulative, bounds.length + 1 of them) and `sum` to the series of `raw`;
   * `key`: the guard's keyOf(raw), when the caller has it.
   */
  add(raw: Labels<L>, buckets: readonly number[], sum: number, key?: string): void {
    if (buckets.length !== this.bounds.length + 1) {
      throw new Error(
        `${this.name}: expected ${this.bounds.length + 1} buckets, got ${buckets.length}`,
      );
    }
    const labels = this.guard.admit(raw, key);
    let series = this.series.get(labels);
    if (!series) {
      series = { labels, buckets: new Array<number>(buckets.length).fill(0), sum: 0, count: 0 };
      this.series.set(labels, series);
    }
    addCounts(series, buckets, sum);
  }

  get(): HistogramObject {
    const values: HistogramSample[] = [];
    for (const series of this.series.values()) pushSamples(values, this.name, this.bounds, series);
    return histogramObject(this, values);
  }
}
