/**
 * The Grafana dashboards, written compactly: `npm run k8s:render:monitoring` turns each into
 * k8s/monitoring/dashboards/<file>.json (Grafana's dashboard model, schemaVersion 39), which the ConfigMap
 * `mesha-dashboards` carries. Every query is PromQL over mesha's metrics; template variables are $job,
 * $instance, $namespace, $workload (and $route on traffic); $__rate_interval and $__range are Grafana's.
 */

export interface Target {
  expr: string;
  legend?: string;
  /** A table of the current values instead of a time series. */
  instant?: boolean;
}

export interface PanelDef {
  title: string;
  description: string;
  type: 'timeseries' | 'stat' | 'table' | 'bargauge';
  unit: string;
  targets: Target[];
  /** Grid width out of 24; panels flow left to right, 8 units high. */
  width: number;
}

export interface VariableDef {
  name: string;
  label: string;
  /** label_values(<metric selector>, <label>) */
  metric: string;
  labelName: string;
  all: boolean;
}

export interface DashboardDef {
  file: string;
  uid: string;
  title: string;
  description: string;
  variables: VariableDef[];
  rows: Array<{ title: string; panels: PanelDef[] }>;
}

const M = 'job=~"$job", instance=~"$instance"';
const RATE = '[$__rate_interval]';
const quantile = (q: number, bucket: string, by = '') =>
  `histogram_quantile(${q}, sum by (le${by}) (rate(${bucket}${RATE})))`;

const jobVariable: VariableDef = {
  name: 'job',
  label: 'job',
  metric: 'mesha_reporters',
  labelName: 'job',
  all: false,
};

export const meshaDashboard: DashboardDef = {
  file: 'mesha.json',
  uid: 'mesha-overview',
  title: 'mesha',
  description:
    'mesha itself: reports in, reporters, cardinality against the budget, /metrics, resources.',
  variables: [
    jobVariable,
    {
      name: 'instance',
      label: 'replica',
      metric: 'mesha_reporters{job=~"$job"}',
      labelName: 'instance',
      all: true,
    },
    {
      name: 'namespace',
      label: 'reporter namespace',
      metric: 'mesha_reporter_last_seen_timestamp_seconds{job=~"$job"}',
      labelName: 'reporter_namespace',
      all: true,
    },
    {
      name: 'workload',
      label: 'reporter workload',
      metric:
        'mesha_reporter_last_seen_timestamp_seconds{job=~"$job", reporter_namespace=~"$namespace"}',
      labelName: 'reporter_workload',
      all: true,
    },
  ],
  rows: [
    {
      title: 'Reports',
      panels: [
        {
          title: 'Replicas up',
          description: 'Targets of this job that Prometheus scrapes successfully.',
          type: 'stat',
          unit: 'none',
          width: 4,
          targets: [{ expr: `sum(up{${M}})` }],
        },
        {
          title: 'Live reporters',
          description:
            'Reporter ids with a valid report within REPORTER_LIVE_SECONDS, over all replicas.',
          type: 'stat',
          unit: 'none',
          width: 4,
          targets: [{ expr: `sum(mesha_reporters{${M}})` }],
        },
        {
          title: 'Reports per second',
          description:
            'Acknowledged: every POST /wasmCallback answered 200. Counted: reports applied to the metrics ' +
            '(text and new structured reports). Duplicates: structured reports received again and not counted.',
          type: 'timeseries',
          unit: 'reqps',
          width: 8,
          targets: [
            {
              expr: `sum(rate(mesha_http_request_duration_seconds_count{${M}, route="/wasmCallback", method="POST", status_code="200"}${RATE}))`,
              legend: 'acknowledged',
            },
            { expr: `sum(rate(mesha_reports_total{${M}}${RATE}))`, legend: 'counted' },
            { expr: `sum(rate(mesha_duplicate_reports_total{${M}}${RATE}))`, legend: 'duplicates' },
          ],
        },
        {
          title: 'Rejected reports per second by reason',
          description: 'Reports refused with a 4xx (mesha_rejected_reports_total).',
          type: 'timeseries',
          unit: 'reqps',
          width: 8,
          targets: [
            {
              expr: `sum by (reason) (rate(mesha_rejected_reports_total{${M}}${RATE}))`,
              legend: '{{reason}}',
            },
          ],
        },
        {
          title: 'Stalest reporters',
          description:
            'Seconds since the last report of each reporting pod (the replica that saw it last), oldest first.',
          type: 'table',
          unit: 's',
          width: 12,
          targets: [
            {
              expr: 'topk(20, time() - max by (reporter_namespace, reporter_workload, reporter_pod) (mesha_reporter_last_seen_timestamp_seconds{job=~"$job", reporter_namespace=~"$namespace", reporter_workload=~"$workload"}))',
              instant: true,
            },
          ],
        },
        {
          title: 'Reporting pods by workload',
          description: 'Pods whose reporter sent a report within the last minute.',
          type: 'timeseries',
          unit: 'none',
          width: 12,
          targets: [
            {
              expr: 'count by (reporter_namespace, reporter_workload) (time() - max by (reporter_namespace, reporter_workload, reporter_pod) (mesha_reporter_last_seen_timestamp_seconds{job=~"$job", reporter_namespace=~"$namespace", reporter_workload=~"$workload"}) < 60)',
              legend: '{{reporter_namespace}}/{{reporter_workload}}',
            },
          ],
        },
      ],
    },
    {
      title: 'Cardinality',
      panels: [
        {
          title: 'Series per metric against the budget',
          description:
            'Label sets in use per capped metric (mesha_series) and the budget (mesha_series_limit).',
          type: 'timeseries',
          unit: 'none',
          width: 8,
          targets: [
            { expr: `max by (metric) (mesha_series{${M}})`, legend: '{{metric}}' },
            { expr: `min(mesha_series_limit{${M}})`, legend: 'budget (MAX_SERIES)' },
          ],
        },
        {
          title: 'Budget used per metric',
          description: 'mesha_series / mesha_series_limit; past 100 % updates go to __overflow__.',
          type: 'bargauge',
          unit: 'percentunit',
          width: 8,
          targets: [
            {
              expr: `max by (metric) (mesha_series{${M}} / mesha_series_limit{${M}})`,
              legend: '{{metric}}',
              instant: true,
            },
          ],
        },
        {
          title: 'Updates to __overflow__ per second',
          description:
            'Updates of metrics already at MAX_SERIES, counted into their __overflow__ series.',
          type: 'timeseries',
          unit: 'ops',
          width: 8,
          targets: [
            {
              expr: `sum by (metric) (rate(mesha_series_dropped_total{${M}}${RATE}))`,
              legend: '{{metric}}',
            },
          ],
        },
      ],
    },
    {
      title: 'Latency and resources',
      panels: [
        {
          title: '/wasmCallback latency',
          description: 'Time from request received to response sent for POST /wasmCallback.',
          type: 'timeseries',
          unit: 's',
          width: 8,
          targets: [0.5, 0.9, 0.99].map((q) => ({
            expr: quantile(
              q,
              `mesha_http_request_duration_seconds_bucket{${M}, route="/wasmCallback", method="POST"}`,
            ),
            legend: `p${q * 100}`,
          })),
        },
        {
          title: '/metrics render time',
          description: 'Time mesha spends rendering /metrics (mesha_metrics_render_seconds).',
          type: 'timeseries',
          unit: 's',
          width: 8,
          targets: [0.5, 0.99].map((q) => ({
            expr: quantile(q, `mesha_metrics_render_seconds_bucket{${M}}`),
            legend: `p${q * 100}`,
          })),
        },
        {
          title: 'GET /metrics latency and scrape duration',
          description:
            "mesha's HTTP latency for GET /metrics, and Prometheus' own scrape duration.",
          type: 'timeseries',
          unit: 's',
          width: 8,
          targets: [
            {
              expr: quantile(
                0.99,
                `mesha_http_request_duration_seconds_bucket{${M}, route="/metrics"}`,
              ),
              legend: 'p99 (mesha)',
            },
            {
              expr: `max by (instance) (scrape_duration_seconds{${M}})`,
              legend: 'scrape {{instance}}',
            },
          ],
        },
        {
          title: '/metrics size',
          description: 'Bytes of the last /metrics render (mesha_metrics_render_bytes).',
          type: 'timeseries',
          unit: 'bytes',
          width: 6,
          targets: [
            {
              expr: `max by (instance) (mesha_metrics_render_bytes{${M}})`,
              legend: '{{instance}}',
            },
          ],
        },
        {
          title: 'Event-loop lag (p99)',
          description: 'How late timers fire: every request waits at least this long.',
          type: 'timeseries',
          unit: 's',
          width: 6,
          targets: [
            {
              expr: `max by (instance) (nodejs_eventloop_lag_p99_seconds{${M}})`,
              legend: '{{instance}}',
            },
          ],
        },
        {
          title: 'Memory against the budget',
          description: 'Resident memory, the V8 heap in use, and mesha_memory_budget_bytes.',
          type: 'timeseries',
          unit: 'bytes',
          width: 6,
          targets: [
            {
              expr: `max by (instance) (process_resident_memory_bytes{${M}})`,
              legend: 'resident {{instance}}',
            },
            {
              expr: `max by (instance) (nodejs_heap_size_used_bytes{${M}})`,
              legend: 'heap used {{instance}}',
            },
            {
              expr: `max by (instance) (mesha_memory_budget_bytes{${M}})`,
              legend: 'budget {{instance}}',
            },
          ],
        },
        {
          title: 'CPU',
          description: 'CPU seconds per second used by each replica.',
          type: 'timeseries',
          unit: 'percentunit',
          width: 6,
          targets: [
            {
              expr: `sum by (instance) (rate(process_cpu_seconds_total{${M}}${RATE}))`,
              legend: '{{instance}}',
            },
          ],
        },
        {
          title: 'Connections',
          description: 'Open connections, and connections refused per second by reason.',
          type: 'timeseries',
          unit: 'none',
          width: 12,
          targets: [
            {
              expr: `sum by (instance) (mesha_connections_open{${M}})`,
              legend: 'open {{instance}}',
            },
            {
              expr: `sum by (reason) (rate(mesha_connections_refused_total{${M}}${RATE}))`,
              legend: 'refused/s {{reason}}',
            },
          ],
        },
        {
          title: 'Request bodies in flight',
          description:
            'Bytes of request bodies being received right now (mesha_body_bytes_in_flight).',
          type: 'timeseries',
          unit: 'bytes',
          width: 12,
          targets: [
            {
              expr: `sum by (instance) (mesha_body_bytes_in_flight{${M}})`,
              legend: '{{instance}}',
            },
          ],
        },
      ],
    },
  ],
};

const T =
  'job=~"$job", source_namespace=~"$namespace", source_workload=~"$workload", route=~"$route"';
const REQUESTS = `mesha_observed_requests_total{${T}}`;
const WORKLOAD = 'source_namespace, source_workload';
/** The share of requests with status class `code` by workload, 0 (not absent) where there are none. */
const ratio = (code: string) =>
  `(sum by (${WORKLOAD}) (rate(mesha_observed_requests_total{${T}, code="${code}"}${RATE})) or 0 * sum by (${WORKLOAD}) (rate(${REQUESTS}${RATE}))) / sum by (${WORKLOAD}) (rate(${REQUESTS}${RATE}))`;

export const trafficDashboard: DashboardDef = {
  file: 'traffic.json',
  uid: 'mesha-traffic',
  title: 'mesha traffic',
  description:
    'What the reporters in the sidecars observed (mesha_observed_*): rate, errors, latency, bytes by workload, route and status class.',
  variables: [
    jobVariable,
    {
      name: 'namespace',
      label: 'namespace',
      metric: 'mesha_observed_requests_total{job=~"$job"}',
      labelName: 'source_namespace',
      all: true,
    },
    {
      name: 'workload',
      label: 'workload',
      metric: 'mesha_observed_requests_total{job=~"$job", source_namespace=~"$namespace"}',
      labelName: 'source_workload',
      all: true,
    },
    {
      name: 'route',
      label: 'route',
      metric:
        'mesha_observed_requests_total{job=~"$job", source_namespace=~"$namespace", source_workload=~"$workload"}',
      labelName: 'route',
      all: true,
    },
  ],
  rows: [
    {
      title: 'Overview',
      panels: [
        {
          title: 'Requests per second',
          description: 'All observed requests of the selection.',
          type: 'stat',
          unit: 'reqps',
          width: 6,
          targets: [{ expr: `sum(rate(${REQUESTS}${RATE}))` }],
        },
        {
          title: 'Error ratio (5xx)',
          description: 'Share of the observed requests answered 5xx (0 when there were none).',
          type: 'stat',
          unit: 'percentunit',
          width: 6,
          targets: [
            {
              expr: `(sum(rate(mesha_observed_requests_total{${T}, code="5xx"}${RATE})) or vector(0)) / sum(rate(${REQUESTS}${RATE}))`,
            },
          ],
        },
        {
          title: 'Latency p99',
          description: 'From request headers to response headers, as the sidecars measured it.',
          type: 'stat',
          unit: 's',
          width: 6,
          targets: [
            { expr: quantile(0.99, `mesha_observed_request_duration_seconds_bucket{${T}}`) },
          ],
        },
        {
          title: 'Bytes per second',
          description: 'Request and response bodies.',
          type: 'stat',
          unit: 'Bps',
          width: 6,
          targets: [{ expr: `sum(rate(mesha_observed_bytes_total{${T}}${RATE}))` }],
        },
      ],
    },
    {
      title: 'Request rate',
      panels: [
        {
          title: 'Requests per second by workload',
          description: 'Observed requests by source workload.',
          type: 'timeseries',
          unit: 'reqps',
          width: 8,
          targets: [
            {
              expr: `sum by (${WORKLOAD}) (rate(${REQUESTS}${RATE}))`,
              legend: '{{source_namespace}}/{{source_workload}}',
            },
          ],
        },
        {
          title: 'Requests per second by status class',
          description: 'Observed requests by status class (1xx..5xx, none when no response came).',
          type: 'timeseries',
          unit: 'reqps',
          width: 8,
          targets: [{ expr: `sum by (code) (rate(${REQUESTS}${RATE}))`, legend: '{{code}}' }],
        },
        {
          title: 'Requests per second by route',
          description:
            "Observed requests by route (the route header's value or the first path segment).",
          type: 'timeseries',
          unit: 'reqps',
          width: 8,
          targets: [{ expr: `sum by (route) (rate(${REQUESTS}${RATE}))`, legend: '{{route}}' }],
        },
      ],
    },
    {
      title: 'Errors',
      panels: [
        {
          title: 'Error ratio (5xx) by workload',
          description: 'Share of each workload’s requests answered 5xx (0 where there were none).',
          type: 'timeseries',
          unit: 'percentunit',
          width: 12,
          targets: [{ expr: ratio('5xx'), legend: '{{source_namespace}}/{{source_workload}}' }],
        },
        {
          title: 'Client error ratio (4xx) by workload',
          description: 'Share of each workload’s requests answered 4xx (0 where there were none).',
          type: 'timeseries',
          unit: 'percentunit',
          width: 12,
          targets: [{ expr: ratio('4xx'), legend: '{{source_namespace}}/{{source_workload}}' }],
        },
      ],
    },
    {
      title: 'Latency',
      panels: [
        {
          title: 'Latency by workload',
          description:
            'Quantiles from the observed duration histogram (bucket bounds 5 ms .. 10 s).',
          type: 'timeseries',
          unit: 's',
          width: 12,
          targets: [0.5, 0.9, 0.99].map((q) => ({
            expr: quantile(
              q,
              `mesha_observed_request_duration_seconds_bucket{${T}}`,
              ', source_namespace, source_workload',
            ),
            legend: `p${q * 100} {{source_workload}}`,
          })),
        },
        {
          title: 'Latency p99 by route',
          description: 'The 99th percentile per route.',
          type: 'timeseries',
          unit: 's',
          width: 12,
          targets: [
            {
              expr: quantile(
                0.99,
                `mesha_observed_request_duration_seconds_bucket{${T}}`,
                ', route',
              ),
              legend: '{{route}}',
            },
          ],
        },
      ],
    },
    {
      title: 'Bytes',
      panels: [
        {
          title: 'Bytes per second by workload and direction',
          description: 'direction="in": request bodies; "out": response bodies.',
          type: 'timeseries',
          unit: 'Bps',
          width: 12,
          targets: [
            {
              expr: `sum by (source_workload, direction) (rate(mesha_observed_bytes_total{${T}}${RATE}))`,
              legend: '{{source_workload}} {{direction}}',
            },
          ],
        },
        {
          title: 'Mean response size by route',
          description: 'Response body bytes per request.',
          type: 'timeseries',
          unit: 'bytes',
          width: 12,
          targets: [
            {
              expr: `sum by (route) (rate(mesha_observed_bytes_total{${T}, direction="out"}${RATE})) / sum by (route) (rate(${REQUESTS}${RATE}))`,
              legend: '{{route}}',
            },
          ],
        },
        {
          title: 'Requests in the time range',
          description:
            'Observed requests by workload, method, status class and route over the whole range.',
          type: 'table',
          unit: 'none',
          width: 24,
          targets: [
            {
              expr: `sum by (source_workload, method, code, route) (increase(${REQUESTS}[$__range]))`,
              instant: true,
            },
          ],
        },
      ],
    },
  ],
};

export const DASHBOARDS = [meshaDashboard, trafficDashboard];
