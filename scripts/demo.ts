/**
 * End-to-end demo: mesha, a small upstream app, and the local sidecar running the reporter plugin in
 * traffic mode. Sends traffic through the sidecar, shows the reports arriving in mesha's log and the counts
 * on mesha's /metrics, then keeps running until Ctrl-C (or exits after the counts with --once).
 *
 *   npm run demo                          # runs until Ctrl-C / SIGTERM
 *   npm run demo -- --once                # smoke test: exit 0 once mesha counted every request
 *   npm run demo -- --mesha-port 7171 --requests 60
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { startProcess, waitForHttpOk, type RunningProcess } from '../test/support/child-process';
import { freePort } from '../test/support/ports';
import { scrape, sumSamples, type Sample } from '../test/support/prometheus-text';
import { waitFor } from '../test/support/wait-for';

const ROOT = resolve(__dirname, '..');
const WASM = join(ROOT, 'k8s', 'reporter', 'build', 'filter.wasm');
const MESHA_MAIN = join(ROOT, 'dist', 'main.js');
const CLUSTER = 'outbound|7171||mesha.istio12.svc.cluster.local';
const TICK_MS = 2000;

const { values: args } = parseArgs({
  options: {
    once: { type: 'boolean', default: false },
    'mesha-port': { type: 'string' },
    requests: { type: 'string', default: '40' },
  },
});
const requestCount = Number(args.requests);
if (!Number.isInteger(requestCount) || requestCount < 1 || requestCount > 100_000) {
  console.error('--requests: expected an integer 1..100000');
  process.exit(2);
}

const say = (line: string) => console.log(`[demo] ${line}`);

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

function npmRun(script: string): void {
  say(`npm run ${script}`);
  const r = spawnSync('npm', ['run', '--silent', script], { cwd: ROOT, stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`npm run ${script} failed`);
}

function buildIfNeeded(): void {
  if (!existsSync(MESHA_MAIN)) npmRun('build');
  const sources = Math.max(
    newestMtime(join(ROOT, 'k8s', 'reporter', 'assembly')),
    statSync(join(ROOT, 'k8s', 'reporter', 'asconfig.json')).mtimeMs,
  );
  if (!existsSync(WASM) || statSync(WASM).mtimeMs < sources) npmRun('build:wasm');
}

/** The demo app behind the sidecar: a few routes with different answers and latencies. */
function startUpstream(): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const reply = (status: number, body: string, delayMs: number) =>
      setTimeout(() => res.writeHead(status, { 'content-type': 'text/plain' }).end(body), delayMs);
    req.resume();
    if (path.startsWith('/api/')) reply(200, '{"items":[1,2,3]}', 3);
    else if (path === '/cart') reply(req.method === 'POST' ? 201 : 200, 'cart', 30);
    else if (path === '/slow') reply(200, 'finally', 300);
    else if (path === '/boom') reply(503, 'unavailable', 1);
    else reply(404, 'not found', 1);
  });
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok(server)));
}

interface Planned {
  method: string;
  path: string;
  event?: string;
  status: number;
}

const PLAN: Planned[] = [
  { method: 'GET', path: '/api/items', status: 200 },
  { method: 'GET', path: '/api/items?page=2', status: 200 },
  { method: 'POST', path: '/cart', status: 201, event: 'add_to_cart' },
  { method: 'GET', path: '/cart', status: 200 },
  { method: 'GET', path: '/slow', status: 200 },
  { method: 'GET', path: '/boom', status: 503 },
  { method: 'GET', path: '/nope', status: 404 },
  { method: 'POST', path: '/api/orders', status: 200, event: 'checkout' },
];

const routeOf = (p: Planned) => p.event ?? (p.path.split('?')[0].split('/')[1] || '/');
const codeOf = (status: number) => `${String(status)[0]}xx`;

/** Prints a child's new output lines that pass `keep`, with a prefix, as they arrive. */
function follow(proc: RunningProcess, prefix: string, keep: (line: string) => string | undefined) {
  let seen = 0;
  const timer = setInterval(() => {
    for (; seen < proc.lines.length; seen++) {
      const shown = keep(proc.lines[seen]);
      if (shown !== undefined) console.log(`${prefix} ${shown}`);
    }
  }, 100);
  return () => clearInterval(timer);
}

/** Mesha's structured log line, shortened to what the demo is about. */
function meshaLine(line: string): string | undefined {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const msg = typeof entry.msg === 'string' ? entry.msg : '';
  const interesting = /report|listening|reject/i.test(msg);
  if (!interesting) return undefined;
  const noise = new Set(['level', 'time', 'pid', 'hostname', 'req', 'res']);
  const text = JSON.stringify(
    Object.fromEntries(Object.entries(entry).filter(([k]) => !noise.has(k))),
  );
  return text.length > 400 ? `${text.slice(0, 400)}...` : text;
}

function observedTable(samples: Sample[]): string[] {
  return samples
    .filter((s) => s.name === 'mesha_observed_requests_total')
    .map((s) => {
      const l = s.labels;
      return `  ${l.method ?? '?'} ${l.code ?? '?'} route=${l.route ?? '?'} workload=${l.source_workload ?? '?'}: ${s.value}`;
    })
    .sort();
}

async function main(): Promise<void> {
  buildIfNeeded();
  const started: RunningProcess[] = [];
  const stopFollowing: Array<() => void> = [];
  let upstream: Server | undefined;
  let stopping = false;
  const stopAll = async (code: number) => {
    if (stopping) return;
    stopping = true;
    stopFollowing.forEach((f) => f());
    say('stopping sidecar, mesha and the upstream app');
    await Promise.all(started.map((p) => p.stop('SIGTERM', 5000)));
    await new Promise<void>((ok) => (upstream ? upstream.close(() => ok()) : ok()));
    process.exit(code);
  };
  process.on('SIGINT', () => void stopAll(0));
  process.on('SIGTERM', () => void stopAll(0));

  try {
    // mesha
    const meshaPort = args['mesha-port'] ? Number(args['mesha-port']) : await freePort();
    const meshaUrl = `http://127.0.0.1:${meshaPort}`;
    const mesha = startProcess(process.execPath, [MESHA_MAIN], {
      cwd: ROOT,
      env: { ...process.env, NODE_ENV: 'production', HOST: '127.0.0.1', PORT: String(meshaPort) },
    });
    started.push(mesha);
    stopFollowing.push(follow(mesha, '[mesha]', meshaLine));
    await waitForHttpOk(mesha, `${meshaUrl}/readyz`);
    say(`mesha ready on ${meshaUrl}`);

    // the app
    upstream = await startUpstream();
    const upstreamPort = (upstream.address() as AddressInfo).port;
    say(`upstream app on http://127.0.0.1:${upstreamPort}`);

    // the sidecar with the reporter
    const pluginConfig = JSON.stringify({
      mode: 'traffic',
      tick_ms: TICK_MS,
      route_header: 'x-track-event',
    });
    const sidecar = startProcess(
      process.execPath,
      [
        '--import',
        'tsx',
        join(ROOT, 'wasm-host', 'src', 'cli', 'sidecar.ts'),
        ...['--wasm', WASM, '--config', pluginConfig],
        ...['--cluster', `${CLUSTER}=${meshaUrl}`],
        ...['--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0'],
        ...['--upstream', `http://127.0.0.1:${upstreamPort}`, '--concurrency', '2'],
        ...['--node-metadata', 'WORKLOAD_NAME=demo-app', '--node-metadata', 'NAMESPACE=demo'],
        ...['--node-metadata', 'NAME=demo-app-5f7c9-x2k4q'],
      ],
      { cwd: ROOT },
    );
    started.push(sidecar);
    stopFollowing.push(follow(sidecar, '[sidecar]', (l) => l));
    const listening = await waitFor(
      'the sidecar to listen',
      () => {
        if (sidecar.proc.exitCode !== null) throw new Error(`sidecar exited:\n${sidecar.output()}`);
        for (const line of sidecar.lines) {
          const m = /sidecar listening on (http:\S+) admin (http:\S+)/.exec(line);
          if (m) return { proxy: m[1], admin: m[2] };
        }
        return undefined;
      },
      { timeoutMs: 30_000 },
    );
    say(`sidecar on ${listening.proxy} (admin ${listening.admin}), reporting every ${TICK_MS} ms`);

    // traffic through the sidecar
    const expected = new Map<string, number>();
    for (let i = 0; i < requestCount; i++) {
      const p = PLAN[i % PLAN.length];
      const res = await fetch(listening.proxy + p.path, {
        method: p.method,
        headers: p.event ? { 'x-track-event': p.event } : {},
        body: p.method === 'POST' ? '{"sku":"A-1"}' : undefined,
      });
      await res.arrayBuffer();
      const key = `${p.method} ${codeOf(res.status)} route=${routeOf(p)}`;
      expected.set(key, (expected.get(key) ?? 0) + 1);
    }
    say(`sent ${requestCount} requests through the sidecar; waiting for the next ticks`);

    const source = { source_workload: 'demo-app', source_namespace: 'demo' };
    const t0 = Date.now();
    const samples = await waitFor(
      'mesha to count every request',
      async () => {
        const s = await scrape(meshaUrl);
        return sumSamples(s, 'mesha_observed_requests_total', source) >= requestCount && s;
      },
      { timeoutMs: 2 * TICK_MS + 8000, intervalMs: 200 },
    ).catch(async (err: Error) => {
      say(`${err.message}`);
      say(`mesha's mesha_observed_requests_total so far:`);
      observedTable(await scrape(meshaUrl)).forEach((l) => console.log(l));
      throw new Error('mesha did not count the reports');
    });
    const counted = sumSamples(samples, 'mesha_observed_requests_total', source);
    say(
      `mesha counted ${counted} of ${requestCount} requests ${Date.now() - t0} ms after the traffic`,
    );
    console.log('\nsent through the sidecar:');
    [...expected].sort().forEach(([k, n]) => console.log(`  ${k}: ${n}`));
    console.log(`\non ${meshaUrl}/metrics (mesha_observed_requests_total):`);
    observedTable(samples).forEach((l) => console.log(l));
    const stats = await fetch(`${listening.admin}/stats`).then((r) => r.text());
    console.log('\nthe plugin on the sidecar (/stats):');
    stats
      .split('\n')
      .filter((l) => l.includes('mesha_reporter'))
      .forEach((l) => console.log(`  ${l}`));
    console.log('');
    if (counted !== requestCount)
      throw new Error(`expected ${requestCount}, mesha counted ${counted}`);

    if (args.once) {
      say('--once: done');
      await stopAll(0);
      return;
    }
    say(
      `running; try: curl -H 'x-track-event: demo' ${listening.proxy}/api/x ; curl ${meshaUrl}/metrics`,
    );
    say('Ctrl-C to stop');
    setInterval(() => {
      void scrape(meshaUrl)
        .then((s) =>
          say(`mesha_observed_requests_total = ${sumSamples(s, 'mesha_observed_requests_total')}`),
        )
        .catch(() => undefined);
    }, TICK_MS * 5);
  } catch (err) {
    console.error(`[demo] error: ${err instanceof Error ? err.message : String(err)}`);
    await stopAll(1);
  }
}

void main();
