import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { Registry } from 'prom-client';
import type { Label, SeriesSample } from './write-request';

/** Samples converted between two yields to the event loop (reports keep flowing during a snapshot). */
const SAMPLES_PER_SLICE = 2_000;

interface JsonValue {
  value: number;
  labels: Record<string, string | number | undefined>;
  metricName?: string;
}

/**
 * Every sample of `registry` as remote-write series: what a scrape of /metrics would show (counters,
 * gauges, and histograms as their cumulative `_bucket{le}`, `_sum` and `_count` series), with
 * `extraLabels` added to each series that has no label of that name (as Prometheus treats external
 * labels). Labels are sorted by name, `__name__` included; empty values are left out, since Prometheus
 * treats an empty label as an absent one.
 */
export async function snapshotSeries(
  registry: Registry,
  extraLabels: readonly Label[],
): Promise<SeriesSample[]> {
  const samples: SeriesSample[] = [];
  let slice = 0;
  // Every registered metric (prom-client's and custom collectors) renders through get().
  const metrics = registry.getMetricsAsArray() as unknown as Array<{ get(): unknown }>;
  for (const metric of metrics) {
    // One family at a time (prom-client's getMetricsAsJSON() would collect them all in one go).
    const { name, values } = (await metric.get()) as { name: string; values: JsonValue[] };
    for (const sample of values) {
      if (++slice === SAMPLES_PER_SLICE) {
        slice = 0;
        await yieldToEventLoop();
      }
      const labels: Label[] = [{ name: '__name__', value: sample.metricName ?? name }];
      for (const name of Object.keys(sample.labels)) {
        const value = sample.labels[name];
        if (value === undefined || value === '') continue;
        labels.push({ name, value: String(value) });
      }
      for (const extra of extraLabels) {
        if (!labels.some((label) => label.name === extra.name)) labels.push(extra);
      }
      labels.sort(byName);
      samples.push({ labels, value: sample.value });
    }
  }
  return samples;
}

function byName(a: Label, b: Label): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}
