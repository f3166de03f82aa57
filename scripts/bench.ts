/**
 * npm run bench — mesha (built, dist/main.js) against two floors (Fastify answering without doing
 * any work, and the same through a NestJS controller) and a peer (Debian's prometheus-pushgateway,
 * --push.disable-consistency-check), all loaded over loopback by wrk (Debian) in one run:
 *   - the seed's report (Pushgateway: a one-line push);
 *   - one sidecar's 5-second window of 20 (method, code, route) cells: a JSON report to mesha, the
 *     same data as exposition text (a counter, a 12-bucket histogram, two byte counters per cell)
 *     PUT to Pushgateway;
 *   - /metrics of a full series budget: render time and size, and /healthz and report latency while
 *     four scrapers loop, with the render sliced (yielding to the event loop) and in one go.
 * Each load row runs BENCH_ROUNDS times in rotating order; medians are printed, with ratios.
 *
 * Env: BENCH_CONNECTIONS (50), BENCH_DURATION_SECONDS (10), BENCH_ROUNDS (3).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { BUCKET_BOUNDS_MS } from '../src/reports/report-validator';
import { runWrk, type WrkRequest, type WrkResult } from './bench/wrk';

const ROOT = resolve(__dirname, '..');
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const DURATION = Number(process.env.BENCH_DURATION_SECONDS ?? 10);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const ACK = 'receive wasm callback request status ok';

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});
// Bounded in time whatever happens.
const budgetMs = (DURATION * 6 * (ROUNDS + 1) + 4 * DURATION + 240) * 1000;
setTimeout(() => {
  console.error(`bench: over its ${budgetMs / 1000} s budget, stopping`);
  process.exit(1);
}, budgetMs).unref();

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? done(address.port) : fail(new Error('no port')),
      );
    });
  });
}

interface Server {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

async function startServer(
  name: string,
  command: string,
  args: (port: number) => string[],
  readyPath: string,
  env: Record<string, string> = {},
): Promise<Server> {
  const port = await freePort();
  const child = spawn(command, args(port), {
    cwd: ROOT,
    env: { ...process.env, NODE_ENV: 'production', HOST: '127.0.0.1', PORT: String(port), ...env },
    stdio: ['ignore', 'ignore', 'pipe'], // log lines are written (as in production) and discarded
  });
  children.add(child);
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited: ${stderr}`);
    const ok = await fetch(`${url}${readyPath}`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`${name} did not become ready: ${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    pid: child.pid ?? 0,
    stop: () =>
      new Promise((done) => {
        if (child.exitCode !== null) return done();
        child.once('exit', () => {
          children.delete(child);
          done();
        });
        child.kill('SIGTERM');
      }),
  };
}

const startMesha = (env: Record<string, string> = {}) =>
  startServer('mesha', process.execPath, () => ['dist/main.js'], '/readyz', env);

const SEED_HEADERS = { melonMsg: 'my header from wasm envoy reporter', accept: '*/*' };
const SEED_BODY = "i'm wasm from wasm filter !!!";

/** 20 cells: 5 routes x (GET, POST) x (2xx, 5xx), as one sidecar reports them after a tick. */
const CELLS = ['api', 'cart', 'checkout', 'search', 'static'].flatMap((route) =>
  ['GET', 'POST'].flatMap((method) =>
    (['2xx', '5xx'] as const).map((code) => ({
      method,
      code,
      route,
      n: 12,
      duration_buckets: [4, 3, 2, 1, 1, 1, 0, 0, 0, 0, 0, 0],
      duration_sum_ms: 300,
      bytes_in: 2048,
      bytes_out: 16384,
    })),
  ),
);
const SOURCE = { workload: 'shop', namespace: 'default', pod: 'shop-7d9f-abcde' };

/** The 20-cell window as mesha's JSON report; `{seq}` is filled in per request by wrk. */
const windowTemplate = JSON.stringify({
  v: 1,
  reporter: { id: '0123456789abcdef', seq: 999_999 },
  source: SOURCE,
  window: { start_ms: 1_700_000_000_000, end_ms: 1_700_000_005_000 },
  buckets_ms: BUCKET_BOUNDS_MS,
  counts: CELLS,
}).replace('999999', '{seq}');

/** The same window as exposition text for Pushgateway: a counter, a histogram, two byte counters. */
function windowExposition(): string {
  const requests = ['# TYPE observed_requests_total counter'];
  const duration = ['# TYPE observed_request_duration_seconds histogram'];
  const bytes = ['# TYPE observed_bytes_total counter'];
  for (const cell of CELLS) {
    const labels = `source_workload="${SOURCE.workload}",source_namespace="${SOURCE.namespace}",method="${cell.method}",code="${cell.code}",route="${cell.route}"`;
    requests.push(`observed_requests_total{${labels}} ${cell.n}`);
    let cumulative = 0;
    cell.duration_buckets.forEach((count, i) => {
      cumulative += count;
      const le = i < BUCKET_BOUNDS_MS.length ? String(BUCKET_BOUNDS_MS[i] / 1000) : '+Inf';
      duration.push(`observed_request_duration_seconds_bucket{${labels},le="${le}"} ${cumulative}`);
    });
    duration.push(
      `observed_request_duration_seconds_sum{${labels}} ${cell.duration_sum_ms / 1000}`,
    );
    duration.push(`observed_request_duration_seconds_count{${labels}} ${cell.n}`);
    bytes.push(`observed_bytes_total{direction="in",${labels}} ${cell.bytes_in}`);
    bytes.push(`observed_bytes_total{direction="out",${labels}} ${cell.bytes_out}`);
  }
  return `${[...requests, ...duration, ...bytes].join('\n')}\n`;
}

const fmt = (n: number, digits = 1) => n.toFixed(digits);
const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

interface Row {
  name: string;
  request: (urls: Urls) => WrkRequest;
  results: WrkResult[];
}
interface Urls {
  floor: string;
  nestFloor: string;
  mesha: string;
  pushgateway: string;
}

function summary(row: Row): string {
  const rps = row.results.map((r) => r.rps);
  return (
    `${row.name.padEnd(30)} ${fmt(median(rps), 0).padStart(7)} req/s (${rps.map((r) => fmt(r, 0)).join(', ')})  ` +
    `p50 ${fmt(median(row.results.map((r) => r.p50Ms)), 2)} ms  p99 ${fmt(median(row.results.map((r) => r.p99Ms)), 2)} ms  ` +
    `errors ${row.results.reduce((sum, r) => sum + r.errors, 0)}`
  );
}

function rssMiB(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : NaN;
}

async function throughput(): Promise<void> {
  const floor = await startServer(
    'floor',
    process.execPath,
    () => ['--import', 'tsx', 'scripts/bench/noop-server.ts'],
    '/readyz',
  );
  const nestFloor = await startServer(
    'nest floor',
    process.execPath,
    () => ['--import', 'tsx', 'scripts/bench/noop-nest.ts'],
    '/readyz',
  );
  const mesha = await startMesha();
  const pushgateway = await startServer(
    'pushgateway',
    'prometheus-pushgateway',
    (port) => [
      `--web.listen-address=127.0.0.1:${port}`,
      '--push.disable-consistency-check',
      '--persistence.file=',
      '--log.level=error',
    ],
    '/-/ready',
  );
  const urls: Urls = {
    floor: floor.url,
    nestFloor: nestFloor.url,
    mesha: mesha.url,
    pushgateway: pushgateway.url,
  };
  const seed = (url: string): WrkRequest => ({
    url: `${url}/wasmCallback`,
    method: 'POST',
    headers: SEED_HEADERS,
    body: SEED_BODY,
  });
  const rows: Row[] = [
    { name: 'floor: seed report', request: (u) => seed(u.floor), results: [] },
    { name: 'nest floor: seed report', request: (u) => seed(u.nestFloor), results: [] },
    { name: 'mesha: seed report', request: (u) => seed(u.mesha), results: [] },
    {
      name: 'pushgateway: one-line push',
      request: (u) => ({
        url: `${u.pushgateway}/metrics/job/bench`,
        method: 'POST',
        body: 'mesha_reports_total 1\n',
      }),
      results: [],
    },
    {
      name: 'mesha: 20-cell window (JSON)',
      request: (u) => ({
        url: `${u.mesha}/wasmCallback`,
        method: 'POST',
        headers: { ...SEED_HEADERS, 'content-type': 'application/json' },
        bodyTemplate: windowTemplate,
      }),
      results: [],
    },
    {
      name: 'pushgateway: 20-cell window',
      request: (u) => ({
        url: `${u.pushgateway}/metrics/job/bench/instance/shop-7d9f-abcde`,
        method: 'PUT',
        body: windowExposition(),
      }),
      results: [],
    },
  ];
  // Warm-up (JIT), then ROUNDS rounds in rotating order, so that a noisy neighbour hurts all alike.
  for (const row of rows) await runWrk(row.request(urls), CONNECTIONS, 2);
  for (let round = 0; round < ROUNDS; round++) {
    for (let i = 0; i < rows.length; i++) {
      const row = rows[(i + round) % rows.length];
      row.results.push(await runWrk(row.request(urls), CONNECTIONS, DURATION));
    }
  }
  console.log(
    `\n== throughput: wrk -t1 -c${CONNECTIONS}, ${DURATION} s per run, median of ${ROUNDS} ==`,
  );
  for (const row of rows) console.log(summary(row));
  const m = (name: string) =>
    median(rows.find((r) => r.name === name)?.results.map((r) => r.rps) ?? [NaN]);
  const p = (name: string, key: 'p50Ms' | 'p99Ms') =>
    median(rows.find((r) => r.name === name)?.results.map((r) => r[key]) ?? [NaN]);
  console.log(
    `ratio mesha/floor (seed): ${fmt(m('mesha: seed report') / m('floor: seed report'), 2)} (goal >= 0.8); ` +
      `mesha/pushgateway: seed ${fmt(m('mesha: seed report') / m('pushgateway: one-line push'), 2)}, ` +
      `20-cell window ${fmt(m('mesha: 20-cell window (JSON)') / m('pushgateway: 20-cell window'), 2)}`,
  );
  console.log(
    `ratio mesha/nest floor (seed): ${fmt(m('mesha: seed report') / m('nest floor: seed report'), 2)}; ` +
      `nest floor/floor: ${fmt(m('nest floor: seed report') / m('floor: seed report'), 2)}`,
  );
  console.log(
    `mesha p99/p50: seed ${fmt(p('mesha: seed report', 'p99Ms') / p('mesha: seed report', 'p50Ms'), 1)}, ` +
      `window ${fmt(p('mesha: 20-cell window (JSON)', 'p99Ms') / p('mesha: 20-cell window (JSON)', 'p50Ms'), 1)} (goal <= 5); ` +
      `20-cell windows ${fmt(m('mesha: 20-cell window (JSON)'), 0)}/s (goal >= 10,000)`,
  );
  await Promise.all([floor.stop(), nestFloor.stop(), mesha.stop(), pushgateway.stop()]);
}

/** A mesha filled to its series budget: wide reports from 16 workloads, 10,000 seed messages. */
async function fill(url: string): Promise<void> {
  const post = (headers: Record<string, string>, body: string) =>
    fetch(`${url}/wasmCallback`, {
      method: 'POST',
      headers: { melonMsg: 'x', ...headers },
      body,
    }).then((r) => r.arrayBuffer());
  for (let w = 0; w < 16; w++) {
    const counts = Array.from({ length: 1024 }, (_, i) => ({
      ...CELLS[0],
      route: `route-${w}-${i}`,
    }));
    await post(
      { 'content-type': 'application/json' },
      JSON.stringify({
        v: 1,
        reporter: { id: (0x100000 + w).toString(16).padStart(16, '0'), seq: 1 },
        source: { ...SOURCE, workload: `workload-${w}`, pod: `pod-${w}` },
        window: { start_ms: 1, end_ms: 2 },
        buckets_ms: BUCKET_BOUNDS_MS,
        counts,
      }),
    );
  }
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < 10_000) await post({ melonMsg: `message-${next++}` }, 'x');
    }),
  );
}

async function scrapeLoad(sliced: boolean): Promise<void> {
  const mesha = await startMesha(sliced ? {} : { METRICS_RENDER_SLICE_LINES: '0' });
  await fill(mesha.url);
  const text = await (await fetch(`${mesha.url}/metrics`)).text();
  const samples = text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length;
  const renderStats = async () => {
    const body = await (await fetch(`${mesha.url}/metrics`)).text();
    const value = (name: string) =>
      Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(body)?.[1] ?? NaN);
    return {
      sum: value('mesha_metrics_render_seconds_sum'),
      count: value('mesha_metrics_render_seconds_count'),
    };
  };
  const before = await renderStats();
  let stop = false;
  let scrapes = 0;
  const scrapers = Array.from({ length: 4 }, async () => {
    while (!stop) {
      await (await fetch(`${mesha.url}/metrics`)).arrayBuffer();
      scrapes++;
    }
  });
  const seconds = Math.max(5, Math.round(DURATION / 2));
  const probe = await runWrk({ url: `${mesha.url}/healthz`, method: 'GET' }, 2, seconds);
  const ingest = await runWrk(
    { url: `${mesha.url}/wasmCallback`, method: 'POST', headers: SEED_HEADERS, body: SEED_BODY },
    4,
    seconds,
  );
  stop = true;
  await Promise.all(scrapers);
  const after = await renderStats();
  const renders = after.count - before.count;
  console.log(
    `${(sliced ? 'sliced (default)' : 'in one go').padEnd(17)} ${samples} samples, ${fmt(text.length / 2 ** 20, 1)} MiB; ` +
      `${scrapes} scrapes served by ${renders} renders, mean render ${fmt(((after.sum - before.sum) / renders) * 1000, 0)} ms; ` +
      `/healthz p50 ${fmt(probe.p50Ms, 2)} ms p99 ${fmt(probe.p99Ms, 1)} ms; ` +
      `reports p50 ${fmt(ingest.p50Ms, 2)} ms p99 ${fmt(ingest.p99Ms, 1)} ms; RSS ${fmt(rssMiB(mesha.pid), 0)} MiB`,
  );
  await mesha.stop();
}

async function main(): Promise<void> {
  if (!existsSync(resolve(ROOT, 'dist', 'main.js'))) {
    throw new Error('dist/main.js is missing: run npm run build first');
  }
  console.log(`bench: loopback, wrk as the load generator; ${ACK.length}-byte answers`);
  await throughput();
  console.log(
    '\n== /metrics of a full series budget, 4 scrapers looping; probes and reports meanwhile ==',
  );
  await scrapeLoad(true);
  await scrapeLoad(false);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
