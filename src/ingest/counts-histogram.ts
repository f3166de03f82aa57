import type { RegisteredMetric } from '../metrics/openmetrics';

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
  private readonly buckets: number[];
  private sum = 0;
  private count = 0;

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: readonly number[],
  ) {
    this.buckets = new Array<number>(bounds.length + 1).fill(0);
  }

  observe(value: number): void {
    let i = 0;
    while (i < this.bounds.length && value > this.bounds[i]) i++;
    this.buckets[i]++;
    this.sum += value;
    this.count++;
  }

  /** Adds counts kept elsewhere (bounds.length + 1 non-cumulative buckets, and their sum). */
  add(buckets: readonly number[], sum: number): void {
    if (buckets.length !== this.buckets.length) return; // kept with other bounds: not comparable
    for (let i = 0; i < buckets.length; i++) {
      this.buckets[i] += buckets[i];
      this.count += buckets[i];
    }
    this.sum += sum;
  }

  get(): { name: string; help: string; type: string; aggregator: string; values: object[] } {
    const values: object[] = [];
    let cumulative = 0;
    for (let i = 0; i < this.buckets.length; i++) {
      cumulative += this.buckets[i];
      const le = i < this.bounds.length ? this.bounds[i] : '+Inf';
      values.push({ metricName: `${this.name}_bucket`, labels: { le }, value: cumulative });
    }
    values.push({ metricName: `${this.name}_sum`, labels: {}, value: this.sum });
    values.push({ metricName: `${this.name}_count`, labels: {}, value: this.count });
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values,
    };
  }
}
