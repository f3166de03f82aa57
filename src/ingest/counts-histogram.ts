import type { RegisteredMetric } from '../metrics/openmetrics';
import {
  addCounts,
  histogramObject,
  pushSamples,
  type HistogramObject,
  type HistogramSample,
  type HistogramSeries,
} from '../reports/bucket-histogram';

/**
 * A histogram without labels whose counts can be restored (prom-client's Histogram can only
 * observe one value at a time): the durable state hands back per-bucket counts and a sum at
 * start-up. It renders through the registry like prom-client's: cumulative `_bucket{le}`, `_sum`,
 * `_count`.
 */
export class CountsHistogram implements RegisteredMetric {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  /** Non-cumulative counts, one per bound, then +Inf. */
  private readonly series: HistogramSeries<never>;

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: readonly number[],
  ) {
    this.series = {
      labels: {},
      buckets: new Array<number>(bounds.length + 1).fill(0),
      sum: 0,
      count: 0,
    };
  }

  observe(value: number): void {
    let i = 0;
    while (i < this.bounds.length && value > this.bounds[i]) i++;
    this.series.buckets[i]++;
    this.series.sum += value;
    this.series.count++;
  }

  /** Adds counts kept elsewhere (bounds.length + 1 non-cumulative buckets, and their sum). */
  add(buckets: readonly number[], sum: number): void {
    if (buckets.length !== this.series.buckets.length) return; // other bounds: not comparable
    addCounts(this.series, buckets, sum);
  }

  get(): HistogramObject {
    const values: HistogramSample[] = [];
    pushSamples(values, this.name, this.bounds, this.series);
    return histogramObject(this, values);
  }
}
