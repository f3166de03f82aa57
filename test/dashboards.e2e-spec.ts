import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DASHBOARDS, type DashboardDef } from '../k8s/monitoring/dashboards/definitions';
import { parse } from 'yaml';
import { startSidecarCli } from '../wasm-host/test/support/sidecar-cli';
import { stopAllProcesses, type RunningProcess } from './support/child-process';
import { REPO_ROOT, startMesha, type MeshaProcess } from './support/mesha';
import { scrape } from './support/prometheus-text';
import { startPrometheus, type PrometheusServer } from './support/prometheus';
import { validReport } from './support/report-fixture';
import { waitFor } from './support/wait-for';

const WASM = resolve(REPO_ROOT, 'k8s/reporter/build/filter.wasm');
const CLUSTER = 'outbound|7171||mesha.istio12.svc.cluster.local';
const SOURCE = { workload: 'shop-web', namespace: 'shop', pod: 'shop-web-5f7c9-x2k4q' };

/**
 * Metrics a panel query may find empty, each with the reason it cannot have data in this test. None today:
 * every panel answers with data; the test below fails if an entry names a metric mesha exports.
 */
const EXPECTED_EMPTY: Record<string, string> = {};

/** Grafana's template variables, as a user would pick them: the workload the sidecar reports for. */
const VARIABLES: Record<string, string> = {
  job: 'mesha',
  instance: '.*', // "All"
  namespace: SOURCE.namespace,
  workload: SOURCE.workload,
  route: '.*', // "All"
  __rate_interval: '5m', // covers the whole test, so every rate sees the traffic
  __range: '10m',
};

/** The expression Grafana sends for `expr` with the variables above. */
function substitute(expr: string): string {
  return expr.replace(/\$\{?(\w+)\}?/g, (whole, name: string) => {
    if (!(name in VARIABLES)) throw new Error(`no value for variable ${whole} in ${expr}`);
    return VARIABLES[name];
  });
}

const metricsOf = (expr: string) =>
  [...expr.matchAll(/\b([a-z_:][a-z0-9_:]*)\s*\{/g)].map((m) => m[1]);

interface Query {
  dashboard: string;
  panel: string;
  refId: string;
  expr: string;
}

function queriesOf(def: DashboardDef): Query[] {
  return def.rows.flatMap((row) =>
    row.panels.flatMap((panel) =>
      panel.targets.map((target, i) => ({
        dashboard: def.title,
        panel: panel.title,
        refId: String.fromCharCode(65 + i),
        expr: substitute(target.expr),
      })),
    ),
  );
}

/**
 * Every panel query of both dashboards against a real Prometheus scraping a real mesha, fed by the built reporter
 * in the local sidecar (traffic mode) with traffic of several routes and status classes.
 */
describe('dashboards: every panel query against Prometheus scraping mesha fed by the reporter', () => {
  let mesha: MeshaProcess;
  let sidecar: RunningProcess;
  let upstream: Server;
  let prometheus: PrometheusServer;
  let traffic: NodeJS.Timeout | undefined;
  let exported: Set<string>;
  let stateDir: string | undefined;

  beforeAll(async () => {
    // A small MAX_SERIES so that the overflow panel has something to show (the text reports below exceed it);
    // a STATE_DIR so that the durable state's metrics (and the alert on them) exist.
    stateDir = mkdtempSync(join(tmpdir(), 'mesha-dashboards-state-'));
    mesha = await startMesha({ MAX_SERIES: '30', STATE_DIR: stateDir });
    upstream = createServer((req, res) => {
      req.resume();
      const path = (req.url ?? '/').split('?')[0];
      const reply = (status: number, body: string, delayMs: number) =>
        setTimeout(
          () => res.writeHead(status, { 'content-type': 'text/plain' }).end(body),
          delayMs,
        );
      if (path.startsWith('/api/')) reply(200, '{"items":[1,2,3]}', 3);
      else if (path === '/cart') reply(201, 'cart', 30);
      else if (path === '/boom') reply(503, 'unavailable', 1);
      else reply(404, 'not found', 1);
    });
    await new Promise<void>((ok) => upstream.listen(0, '127.0.0.1', ok));
    const started = await startSidecarCli([
      ...['--wasm', WASM],
      ...[
        '--config',
        JSON.stringify({ mode: 'traffic', tick_ms: 500, route_header: 'x-track-event' }),
      ],
      ...['--cluster', `${CLUSTER}=${mesha.url}`],
      ...['--upstream', `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`],
      ...['--node-metadata', `WORKLOAD_NAME=${SOURCE.workload}`],
      ...[
        '--node-metadata',
        `NAMESPACE=${SOURCE.namespace}`,
        '--node-metadata',
        `NAME=${SOURCE.pod}`,
      ],
    ]);
    sidecar = started.proc;
    prometheus = await startPrometheus([`127.0.0.1:${mesha.port}`]);

    // Traffic through the sidecar for as long as the suite runs: routes, 2xx/4xx/5xx, bodies both ways.
    const plan = [
      { path: '/api/items', method: 'GET' },
      { path: '/cart', method: 'POST', event: 'add_to_cart' },
      { path: '/boom', method: 'GET' },
      { path: '/nope', method: 'GET' },
    ];
    let i = 0;
    const send = async () => {
      const p = plan[i++ % plan.length];
      const res = await fetch(started.url + p.path, {
        method: p.method,
        headers: p.event ? { 'x-track-event': p.event } : {},
        body: p.method === 'POST' ? '{"sku":"A-1"}' : undefined,
      });
      await res.arrayBuffer();
    };
    for (let n = 0; n < 20; n++) await send();
    traffic = setInterval(() => void send().catch(() => undefined), 250);

    // Text reports past MAX_SERIES (overflow), a few refused reports, and a structured re-send (duplicate).
    const post = (headers: Record<string, string>, body: string) =>
      fetch(`${mesha.url}/wasmCallback`, { method: 'POST', headers, body }).then((r) => r.text());
    for (let n = 0; n < 40; n++) await post({ melonMsg: `msg-${n}` }, 'x');
    for (let n = 0; n < 3; n++) await post({}, 'no melonMsg');
    const report = JSON.stringify(validReport({ reporter: { id: 'abcdefabcdefabcd', seq: 1 } }));
    const json = { 'content-type': 'application/json', melonMsg: 'by hand' };
    for (let n = 0; n < 3; n++) await post(json, report);

    exported = new Set((await scrape(mesha.url)).map((s) => s.name.replace(/_(count|sum)$/, '')));
    await waitFor(
      'Prometheus to have scraped the traffic a few times',
      async () =>
        (await prometheus.query(`count_over_time(up{job="mesha"}[5m]) >= 5`)).length === 1 &&
        (await prometheus.query(`mesha_observed_requests_total{source_workload="shop-web"}`))
          .length >= 3,
      { timeoutMs: 60_000, intervalMs: 500 },
    );
  }, 180_000);

  afterAll(async () => {
    clearInterval(traffic);
    await prometheus?.stop();
    await sidecar?.stop();
    await mesha?.stop();
    await new Promise<void>((ok) => (upstream ? upstream.close(() => ok()) : ok()));
    await stopAllProcesses();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  });

  it('EXPECTED_EMPTY names only metrics this mesha does not export (remove an entry once it does)', () => {
    expect(
      Object.keys(EXPECTED_EMPTY).filter((metric) => exported.has(metric.replace(/_bucket$/, ''))),
    ).toEqual([]);
  });

  it.each(DASHBOARDS.map((d) => [d.title, d] as const))(
    '%s: every template variable has values, among them the ones the panels are queried with',
    async (_title, def) => {
      for (const variable of def.variables) {
        const values = await prometheus.labelValues(
          variable.labelName,
          substitute(variable.metric),
        );
        const picked = VARIABLES[variable.name];
        expect({ variable: variable.name, values }).toEqual({
          variable: variable.name,
          values:
            picked === '.*'
              ? expect.arrayContaining([expect.any(String)])
              : expect.arrayContaining([picked]),
        });
      }
    },
  );

  it.each(DASHBOARDS.map((d) => [d.title, d] as const))(
    '%s: every panel query is valid PromQL and answers with data',
    async (_title, def) => {
      const outcomes: Array<Query & { outcome: string }> = [];
      for (const query of queriesOf(def)) {
        const pending = metricsOf(query.expr).filter(
          (m) => m in EXPECTED_EMPTY && !exported.has(m.replace(/_bucket$/, '')),
        );
        let outcome: string;
        try {
          // A rate needs two scrapes of a series: wait for data (a generous deadline), not a fixed time.
          const samples = await waitFor(
            `${query.panel} ${query.refId}`,
            async () => {
              const result = await prometheus.query(query.expr);
              return pending.length > 0 || result.some((s) => Number.isFinite(Number(s.value[1])))
                ? result
                : undefined;
            },
            { timeoutMs: pending.length > 0 ? 0 : 30_000, intervalMs: 500 },
          );
          outcome =
            pending.length > 0
              ? `empty as expected (${pending.join(', ')}: ${EXPECTED_EMPTY[pending[0]]})`
              : `${samples.length} series`;
          if (pending.length > 0) expect(samples).toEqual([]);
        } catch (err) {
          outcome = `FAILED: ${(err as Error).message}`;
        }
        outcomes.push({ ...query, outcome });
      }
      // What each query answered, for whoever shrinks EXPECTED_EMPTY or debugs a panel.
      const output = resolve(REPO_ROOT, 'test-output');
      mkdirSync(output, { recursive: true });
      writeFileSync(
        resolve(output, `dashboard-${def.uid}.json`),
        JSON.stringify(outcomes, null, 2),
      );
      const failed = outcomes.filter((o) => o.outcome.startsWith('FAILED'));
      expect(failed).toEqual([]);
      // Every panel is exercised; the pending ones are exactly those reading a metric of EXPECTED_EMPTY.
      expect(outcomes.filter((o) => o.outcome.endsWith('series')).length).toBeGreaterThan(0);
    },
    300_000,
  );
  // The alert rules read the same series: each expression must run here, and where it ends in a threshold, the
  // part before it must see mesha's real series (label names and values such as route="/wasmCallback").
  it('every alert expression runs on this Prometheus; the measured side of each threshold has data', async () => {
    const rules = (
      parse(readFileSync(resolve(REPO_ROOT, 'k8s/monitoring/alerts/mesha.rules.yaml'), 'utf8')) as {
        groups: Array<{ rules: Array<{ alert: string; expr: string }> }>;
      }
    ).groups.flatMap((g) => g.rules);
    /** Metrics that exist only in a cluster (kube-state-metrics), not in this test. */
    const clusterOnly = /\bkube_/;
    const outcomes: Array<{ alert: string; outcome: string }> = [];
    for (const rule of rules) {
      await prometheus.query(rule.expr); // throws when Prometheus refuses the expression
      const measured = rule.expr.replace(/\s*(==|>=|<=|>|<)\s*[\d.]+\s*$/, '');
      const pending = metricsOf(measured).filter(
        (m) => m in EXPECTED_EMPTY && !exported.has(m.replace(/_bucket$/, '')),
      );
      if (measured === rule.expr || clusterOnly.test(measured) || pending.length > 0) {
        outcomes.push({ alert: rule.alert, outcome: 'valid' });
        continue;
      }
      const samples = await waitFor(
        `${rule.alert}: ${measured}`,
        async () => {
          const result = await prometheus.query(measured);
          return result.some((s) => Number.isFinite(Number(s.value[1]))) && result;
        },
        { timeoutMs: 30_000, intervalMs: 500 },
      ).catch((err: Error) => err.message);
      outcomes.push({
        alert: rule.alert,
        outcome: typeof samples === 'string' ? `FAILED: ${samples}` : 'measured',
      });
    }
    expect(outcomes.filter((o) => o.outcome.startsWith('FAILED'))).toEqual([]);
    expect(outcomes.filter((o) => o.outcome === 'measured').map((o) => o.alert)).toEqual(
      expect.arrayContaining([
        'MeshaDown',
        'MeshaDuplicateSpike',
        'MeshaHighRejectionRatio',
        'MeshaSeriesOverflow',
        'MeshaEventLoopLag',
      ]),
    );
  }, 300_000);
});
