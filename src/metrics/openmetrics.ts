import { Registry, type Metric, type OpenMetricsContentType } from 'prom-client';

/** What a registry holds and renders: prom-client's metrics and mesha's custom collectors alike. */
export interface RegisteredMetric {
  name: string;
  help: string;
  type: string;
  aggregator: string;
  get(): Promise<object> | object;
}

export const PROMETHEUS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;
export const OPENMETRICS_CONTENT_TYPE = Registry.OPENMETRICS_CONTENT_TYPE;

/**
 * True when the scraper's Accept header prefers OpenMetrics to the Prometheus text format
 * (Prometheus itself sends `application/openmetrics-text;version=1.0.0,...;q=0.5,text/plain...`).
 */
export function prefersOpenMetrics(accept: string | undefined): boolean {
  if (!accept) return false;
  let openMetrics = 0;
  let text = 0;
  for (const part of accept.split(',')) {
    const [type = '', ...params] = part.split(';').map((s) => s.trim().toLowerCase());
    const qParam = params.find((p) => p.startsWith('q='));
    const q = qParam === undefined ? 1 : Number(qParam.slice(2));
    if (!Number.isFinite(q)) continue;
    if (type === 'application/openmetrics-text') openMetrics = Math.max(openMetrics, q);
    else if (type === 'text/plain' || type === '*/*' || type === 'text/*') text = Math.max(text, q);
  }
  return openMetrics > 0 && openMetrics >= text;
}

/**
 * Renders `source` as OpenMetrics. prom-client's OpenMetrics registry renames the counters it holds
 * (it strips `_total` from the metric object itself), so it is given views of the metrics, never the
 * metrics themselves: the Prometheus-text registry keeps its names.
 */
export function renderOpenMetrics(source: Registry): Promise<string> {
  const target = new Registry<OpenMetricsContentType>();
  target.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
  for (const metric of source.getMetricsAsArray() as unknown as RegisteredMetric[]) {
    target.registerMetric(openMetricsView(metric) as unknown as Metric);
  }
  return target.metrics();
}

function openMetricsView(metric: RegisteredMetric): RegisteredMetric {
  const family = metric.type === 'counter' ? metric.name.replace(/_total$/, '') : metric.name;
  return {
    name: family,
    help: metric.help,
    type: metric.type,
    aggregator: metric.aggregator,
    get: async () => ({ ...(await metric.get()), name: family }),
  };
}
