import { MetricType } from './abi';

interface MetricSeries {
  type: MetricType;
  /** Value per VM (counter/gauge), or per-VM histogram sums. */
  perVm: number[];
  /** Histogram sample counts per VM. */
  counts: number[];
}

/** Plugin metrics by name, shared by the VMs (like Envoy's stats store), values kept per VM. */
export class MetricsStore {
  private readonly series = new Map<string, MetricSeries>();

  constructor(private readonly vmCount: number) {}

  define(name: string, type: MetricType): boolean {
    const existing = this.series.get(name);
    if (existing) return existing.type === type;
    this.series.set(name, {
      type,
      perVm: new Array<number>(this.vmCount).fill(0),
      counts: new Array<number>(this.vmCount).fill(0),
    });
    return true;
  }

  get(name: string, vm: number): number {
    return this.series.get(name)?.perVm[vm] ?? 0;
  }

  add(name: string, vm: number, delta: number): void {
    const s = this.series.get(name);
    if (s) s.perVm[vm] += delta;
  }

  set(name: string, vm: number, value: number): void {
    const s = this.series.get(name);
    if (s) s.perVm[vm] = value;
  }

  record(name: string, vm: number, value: number): void {
    const s = this.series.get(name);
    if (!s) return;
    s.perVm[vm] += value;
    s.counts[vm] += 1;
  }

  /** name -> value on one VM, or summed over the VMs; histograms give their sample count. */
  snapshot(vm?: number): Map<string, number> {
    const out = new Map<string, number>();
    for (const [name, s] of this.series) {
      const values = s.type === MetricType.HISTOGRAM ? s.counts : s.perVm;
      out.set(name, vm === undefined ? values.reduce((a, b) => a + b, 0) : (values[vm] ?? 0));
    }
    return out;
  }

  /** Every series with its type, summed over VMs (histograms: count and sum). */
  describe(): Array<{ name: string; type: MetricType; value: number; count: number }> {
    return [...this.series].map(([name, s]) => ({
      name,
      type: s.type,
      value: s.perVm.reduce((a, b) => a + b, 0),
      count: s.counts.reduce((a, b) => a + b, 0),
    }));
  }
}
