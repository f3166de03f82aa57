import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { RegisteredMetric } from './openmetrics';

/** Samples formatted between two yields to the event loop by default (about a millisecond of work). */
export const LINES_PER_SLICE = 2000;

interface Sample {
  metricName?: string;
  labels?: Record<string, string | number>;
  value: number;
}

interface MetricData {
  name: string;
  help: string;
  type: string;
  values?: Sample[];
}

export interface RenderedBody {
  /** The whole body, built once and shared by every scrape that asked for it. */
  body: Buffer;
  seconds: number;
}

const escapeHelp = (text: string): string => text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
const escapeLabel = (text: string): string =>
  text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');

/** Sample values as prom-client writes them (and both text formats read them). */
function valueText(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (!Number.isFinite(value)) return value < 0 ? '-Inf' : '+Inf';
  return String(value);
}

function labelsText(labels: Record<string, string | number> | undefined): string {
  if (!labels) return '';
  let text = '';
  for (const name in labels) {
    const value = labels[name];
    if (value === undefined) continue;
    text += `${text === '' ? '' : ','}${name}="${escapeLabel(String(value))}"`;
  }
  return text === '' ? '' : `{${text}}`;
}

/**
 * Renders `metrics` in the Prometheus text format (or OpenMetrics) into Buffer chunks, yielding to
 * the event loop after every metric and every `linesPerSlice` samples, so that a render of a full
 * series budget never holds the event loop (reports and probes) for more than one slice. The same
 * metric objects serve both formats: OpenMetrics names counter families without `_total` and
 * their samples with it, as prom-client's OpenMetrics registry does, without renaming anything.
 */
export async function renderExposition(
  metrics: readonly RegisteredMetric[],
  openMetrics: boolean,
  /** 0: no yields at all (each metric, and the whole render, in one go). */
  linesPerSlice = LINES_PER_SLICE,
  now: () => number = () => performance.now(),
): Promise<RenderedBody> {
  const started = now();
  const chunks: Buffer[] = [];
  for (const metric of metrics) {
    const data = (await metric.get()) as MetricData;
    const counter = data.type === 'counter';
    const family = openMetrics && counter ? data.name.replace(/_total$/, '') : data.name;
    let text = `# HELP ${family} ${escapeHelp(data.help)}\n# TYPE ${family} ${data.type}\n`;
    const values = data.values ?? [];
    for (let i = 0; i < values.length; i++) {
      const sample = values[i];
      let name = sample.metricName ?? data.name;
      if (openMetrics && counter && !name.endsWith('_total')) name = `${name}_total`;
      text += `${name}${labelsText(sample.labels)} ${valueText(sample.value)}\n`;
      if (linesPerSlice > 0 && (i + 1) % linesPerSlice === 0) {
        chunks.push(Buffer.from(text, 'utf8'));
        text = '';
        await yieldToEventLoop();
      }
    }
    chunks.push(Buffer.from(text, 'utf8'));
    if (linesPerSlice > 0) await yieldToEventLoop();
  }
  if (openMetrics) chunks.push(Buffer.from('# EOF\n'));
  const body = Buffer.concat(chunks);
  return { body, seconds: (now() - started) / 1000 };
}
