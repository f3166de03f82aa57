import { MetricType } from '../abi';

export interface SeriesView {
  name: string;
  type: MetricType;
  value: number;
  count: number;
}

/** Envoy keeps plugin metrics under the "wasmcustom" stat namespace. */
const CUSTOM_NAMESPACE = 'wasmcustom';

/** `/stats` in Envoy's plain text shape: `name: value`, sorted. */
export function statsText(series: SeriesView[], own: Record<string, number>): string {
  const lines = series.map((s) =>
    s.type === MetricType.HISTOGRAM
      ? `${CUSTOM_NAMESPACE}.${s.name}: count=${s.count} sum=${s.value}`
      : `${CUSTOM_NAMESPACE}.${s.name}: ${s.value}`,
  );
  for (const [name, value] of Object.entries(own)) lines.push(`${name}: ${value}`);
  return lines.sort().join('\n') + '\n';
}

const promName = (name: string): string => name.replace(/[^a-zA-Z0-9_:]/g, '_');

/** `/stats?format=prometheus`: custom namespaces are stripped, as Envoy does. */
export function statsPrometheus(series: SeriesView[]): string {
  const out: string[] = [];
  for (const s of [...series].sort((a, b) => a.name.localeCompare(b.name))) {
    const name = promName(s.name);
    if (s.type === MetricType.HISTOGRAM) {
      out.push(`# TYPE ${name} summary`, `${name}_sum ${s.value}`, `${name}_count ${s.count}`);
    } else {
      out.push(
        `# TYPE ${name} ${s.type === MetricType.COUNTER ? 'counter' : 'gauge'}`,
        `${name} ${s.value}`,
      );
    }
  }
  return out.join('\n') + '\n';
}
