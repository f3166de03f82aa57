import type { MetricType } from './abi';

export interface DefinedMetric {
  name: string;
  type: MetricType;
}

/** One VM's metric ids: the type sits in the low two bits, as Envoy's ids carry it. */
export class MetricIds {
  private readonly byId = new Map<number, DefinedMetric>();
  private next = 1;

  assign(metric: DefinedMetric): number {
    const id = ((this.next++ << 2) | metric.type) >>> 0;
    this.byId.set(id, metric);
    return id;
  }

  get(id: number): DefinedMetric | undefined {
    return this.byId.get(id);
  }
}
