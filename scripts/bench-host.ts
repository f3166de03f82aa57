/**
 * npm run bench:host — the proxy-wasm host's cost: requests/s and p50/p99 through the local sidecar with
 * no plugin, with a no-op plugin, and with the reporter in traffic mode (reporting to a real mesha), each
 * plugin with its VMs on worker threads (the sidecar's default) and on the main thread (--in-process), all
 * in one run with identical settings. Load comes from wrk (scripts/bench/wrk.ts), which takes far less
 * of the two cores than a Node load generator; the upstream is a separate process too. Prints per-request overhead against
 * the no-plugin row, what worker threads cost per request against the in-process row of the same plugin
 * (time and ratio), host calls per request and the wasm size.
 *
 * Rows run in turn, BENCH_ROUNDS times; each row reports its median round (the machine is shared and
 * noisy).
 *
 * Env: BENCH_CONNECTIONS (16), BENCH_DURATION_SECONDS (5), BENCH_WARMUP_SECONDS (2), BENCH_ROUNDS (3),
 * BENCH_CONCURRENCY (2: sidecar VMs, like Envoy workers).
 */
import { copyFileSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import wabtInit from 'wabt';
import { startProcess, stopAllProcesses, type RunningProcess } from '../test/support/child-process';
import { startMesha, type MeshaProcess } from '../test/support/mesha';
import { WaitAborted, waitFor } from '../test/support/wait-for';
import { ProxyWasmHost } from '../wasm-host/src';
import { runWrk, type WrkResult } from './bench/wrk';

const ROOT = resolve(__dirname, '..');
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const DURATION = Number(process.env.BENCH_DURATION_SECONDS ?? 5);
const WARMUP = Number(process.env.BENCH_WARMUP_SECONDS ?? 2);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 2);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const REPORTER_WASM = join(ROOT, 'k8s', 'reporter', 'build', 'filter.wasm');
const MESHA_MAIN = join(ROOT, 'dist', 'main.js');
const CLUSTER = 'outbound|7171||mesha.istio12.svc.cluster.local';

const budgetMs = (5 * ROUNDS * (DURATION + WARMUP + 30) + 120) * 1000;
setTimeout(() => {
  console.error(`bench:host: over its ${budgetMs / 1000} s budget, stopping`);
  void stopAllProcesses().finally(() => process.exit(1));
}, budgetMs).unref();

/** Starts `node args` and resolves once one of its output lines matches `ready`. */
async function startUntil(
  name: string,
  args: string[],
  ready: RegExp,
): Promise<{ proc: RunningProcess; match: RegExpExecArray }> {
  const proc = startProcess(process.execPath, args, { cwd: ROOT });
  try {
    const match = await waitFor(
      `${name} to be ready`,
      () => {
        if (proc.proc.exitCode !== null || proc.proc.signalCode !== null) {
          throw new WaitAborted(`${name} exited (${proc.proc.exitCode}) before ready`);
        }
        for (const line of proc.lines) {
          const m = ready.exec(line);
          if (m) return m;
        }
        return undefined;
      },
      { timeoutMs: 60_000, intervalMs: 20 },
    );
    return { proc, match };
  } catch (err) {
    await proc.stop();
    throw new Error(`${(err as Error).message}\n${proc.output()}`);
  }
}

const UPSTREAM = `
const http = require('node:http');
const body = Buffer.from('ok from upstream\\n');
const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => { res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length }); res.end(body); });
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => console.log('upstream ' + server.address().port));
process.on('SIGTERM', () => process.exit(0));
`;

/** A plugin that exports every HTTP callback and does nothing in them: the host's bare cost. */
const NOOP_WAT = `(module
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 1024))
  (func (export "malloc") (param $n i32) (result i32) (local $p i32)
    (local.set $p (global.get $heap)) (global.set $heap (i32.add (global.get $heap) (local.get $n))) (local.get $p))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) (i32.const 1))
  (func (export "proxy_on_configure") (param i32 i32) (result i32) (i32.const 1))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) (i32.const 0))
  (func (export "proxy_on_request_body") (param i32 i32 i32) (result i32) (i32.const 0))
  (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32) (i32.const 0))
  (func (export "proxy_on_response_body") (param i32 i32 i32) (result i32) (i32.const 0))
  (func (export "proxy_on_done") (param i32) (result i32) (i32.const 1))
  (func (export "proxy_on_log") (param i32))
  (func (export "proxy_on_delete") (param i32)))`;

async function noopWasm(dir: string): Promise<string> {
  const wabt = await wabtInit();
  const module = wabt.parseWat('noop.wat', NOOP_WAT);
  const path = join(dir, 'noop.wasm');
  writeFileSync(path, module.toBinary({}).buffer);
  module.destroy();
  return path;
}

function load(url: string, duration: number): Promise<WrkResult> {
  return runWrk(
    { url, method: 'GET', headers: { 'x-track-event': 'bench' } },
    CONNECTIONS,
    duration,
  );
}

async function hostCalls(admin: string): Promise<number> {
  const text = await (await fetch(`${admin}/stats`)).text();
  return Number(/^wasm\.host_calls: (\d+)$/m.exec(text)?.[1] ?? 0);
}

interface Row {
  name: string;
  wasm?: string;
  args?: string[];
  /** The same plugin with its VMs on the main thread: what worker threads are compared with. */
  inProcessPeer?: Row;
}

interface Measured {
  row: Row;
  result: WrkResult;
  callsPerRequest: number;
  wasmBytes: number;
}

async function measure(row: Row, upstream: string): Promise<Measured> {
  const args = [
    '--import',
    'tsx',
    join(ROOT, 'wasm-host', 'src', 'cli', 'sidecar.ts'),
    '--upstream',
    upstream,
    '--listen',
    '127.0.0.1:0',
    '--admin',
    '127.0.0.1:0',
    '--concurrency',
    String(CONCURRENCY),
    '--log-level',
    'warn',
    ...(row.wasm ? ['--wasm', row.wasm] : []),
    ...(row.args ?? []),
  ];
  const { proc, match } = await startUntil(
    `sidecar (${row.name})`,
    args,
    /listening on (http:\/\/[\d.:]+) admin (http:\/\/[\d.:]+)/,
  );
  try {
    const [, url, admin] = match;
    await load(url, WARMUP);
    const before = await hostCalls(admin);
    const result = await load(url, DURATION);
    const after = await hostCalls(admin);
    return {
      row,
      result,
      callsPerRequest: result.requests > 0 ? (after - before) / result.requests : 0,
      wasmBytes: row.wasm ? statSync(row.wasm).size : 0,
    };
  } finally {
    await proc.stop();
  }
}

function table(rows: Measured[]): void {
  const base = rows[0].result;
  const byRow = new Map(rows.map((m) => [m.row, m]));
  const header = [
    'sidecar',
    'req/s',
    'p50 ms',
    'p99 ms',
    'overhead µs/req',
    'workers vs in-process',
    'host calls/req',
    'wasm bytes',
    'errors',
  ];
  // The sidecar's main loop is saturated: 1e6/rps is its time per request; subtract the other row's.
  const perRequest = (r: WrkResult) => 1e6 / r.rps;
  const lines = rows.map(({ row, result, callsPerRequest, wasmBytes }) => {
    const overhead = perRequest(result) - perRequest(base);
    const peer = row.inProcessPeer && byRow.get(row.inProcessPeer)?.result;
    const workers = peer
      ? `${(perRequest(result) - perRequest(peer)).toFixed(1)} µs/req, x${(peer.rps / result.rps).toFixed(2)} time`
      : '-';
    return [
      row.name,
      result.rps.toFixed(0),
      String(result.p50Ms),
      String(result.p99Ms),
      row === rows[0].row ? '-' : overhead.toFixed(1),
      workers,
      row.wasm ? callsPerRequest.toFixed(2) : '-',
      row.wasm ? String(wasmBytes) : '-',
      String(result.errors),
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const fmt = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ');
  console.log(fmt(header));
  for (const l of lines) console.log(fmt(l));
}

/** The round with the median req/s (rounds sorted by throughput). */
function median(rounds: Measured[]): Measured {
  const sorted = [...rounds].sort((a, b) => a.result.rps - b.result.rps);
  return sorted[Math.floor(sorted.length / 2)];
}

/** Each plugin row twice: VMs on worker threads (the default) and on the main thread. */
function withInProcessPeers(rows: Row[]): Row[] {
  return rows.flatMap((row) => {
    if (!row.wasm) return [row];
    const peer: Row = {
      ...row,
      name: `${row.name}, in-process`,
      args: [...(row.args ?? []), '--in-process'],
    };
    return [peer, { ...row, name: `${row.name}, workers`, inProcessPeer: peer }];
  });
}

/** The host alone, in this process: µs per runStream with a fixed upstream answer (no network). */
async function inProcess(row: Row, streams: number): Promise<number> {
  const config = row.args?.[row.args.indexOf('--config') + 1];
  const host = await ProxyWasmHost.start({
    wasm: row.wasm!,
    concurrency: CONCURRENCY,
    pluginConfig: row.args?.includes('--config') ? config : '',
  });
  try {
    const request = {
      method: 'GET',
      path: '/bench',
      authority: 'bench',
      headers: [
        ['user-agent', 'bench'],
        ['x-track-event', 'bench'],
      ] as Array<[string, string]>,
    };
    const answer = {
      status: 200,
      headers: [['content-type', 'text/plain']] as Array<[string, string]>,
      body: 'ok',
    };
    for (let i = 0; i < streams / 4; i++) await host.runStream(request, answer);
    const started = process.hrtime.bigint();
    for (let i = 0; i < streams; i++) await host.runStream(request, answer);
    return Number(process.hrtime.bigint() - started) / 1000 / streams;
  } finally {
    await host.close();
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-host-'));
  let mesha: MeshaProcess | undefined;
  const { proc: upstreamProc, match } = await startUntil(
    'upstream',
    ['-e', UPSTREAM],
    /upstream (\d+)/,
  );
  try {
    const upstream = `http://127.0.0.1:${match[1]}`;
    const rows: Row[] = [
      { name: 'no plugin' },
      { name: 'no-op plugin', wasm: await noopWasm(dir) },
    ];
    if (!existsSync(REPORTER_WASM)) {
      console.log(`reporter row skipped: ${REPORTER_WASM} is missing (run npm run build:wasm)`);
    } else if (!existsSync(MESHA_MAIN)) {
      console.log(`reporter row skipped: ${MESHA_MAIN} is missing (run npm run build)`);
    } else {
      mesha = await startMesha();
      // A snapshot, so a rebuild during the run cannot change the plugin between rounds.
      const reporter = join(dir, 'reporter.wasm');
      copyFileSync(REPORTER_WASM, reporter);
      rows.push({
        name: 'reporter (traffic)',
        wasm: reporter,
        args: [
          '--config',
          JSON.stringify({ mode: 'traffic', tick_ms: 1000, route_header: 'x-track-event' }),
          '--cluster',
          `${CLUSTER}=${mesha.url}`,
          '--node-metadata',
          'WORKLOAD_NAME=bench-web',
          '--node-metadata',
          'NAMESPACE=bench',
          '--node-metadata',
          'NAME=bench-web-0',
        ],
      });
      // Istio's standard metrics: an outbound sidecar (reporter="source") with its node metadata.
      rows.push({
        name: 'reporter (istio)',
        wasm: reporter,
        args: [
          '--config',
          JSON.stringify({ mode: 'istio', tick_ms: 1000 }),
          '--cluster',
          `${CLUSTER}=${mesha.url}`,
          '--listener-direction',
          'outbound',
          '--node-metadata-json',
          JSON.stringify({
            WORKLOAD_NAME: 'bench-web',
            NAMESPACE: 'bench',
            NAME: 'bench-web-0',
            CLUSTER_ID: 'Kubernetes',
            LABELS: { app: 'bench-web', version: 'v1' },
          }),
        ],
      });
    }
    console.log(
      `bench:host: ${CONNECTIONS} connections, ${WARMUP} s warm-up + ${DURATION} s per row, ` +
        `${ROUNDS} rounds (median kept), sidecar concurrency ${CONCURRENCY}, node ${process.version}`,
    );
    const measured = withInProcessPeers(rows);
    const rounds = new Map<Row, Measured[]>(measured.map((r) => [r, []]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const row of measured) {
        const m = await measure(row, upstream);
        console.log(
          `  round ${round + 1} ${row.name}: ${m.result.rps.toFixed(0)} req/s, p50 ${m.result.p50Ms} ms, p99 ${m.result.p99Ms} ms`,
        );
        rounds.get(row)!.push(m);
      }
    }
    console.log(
      'medians over the rounds; the machine is shared with other jobs, so compare rows of this run only:',
    );
    table(measured.map((row) => median(rounds.get(row)!)));
    for (const row of rows.filter((r) => r.wasm)) {
      // No timers in-process (autoTick off): the reporter counts streams but sends no reports here.
      const us = await inProcess(row, 20_000);
      console.log(
        `in-process host cost, ${row.name}: ${us.toFixed(1)} µs per stream (20000 streams)`,
      );
    }
    if (mesha) {
      const metrics = await (await fetch(`${mesha.url}/metrics`)).text();
      const reports = metrics.split('\n').filter((l) => /^mesha_reports_[a-z_]*total\b/.test(l));
      if (reports.length > 0) console.log(`mesha after the reporter rows: ${reports.join('; ')}`);
      const istio = metrics
        .split('\n')
        .filter((l) => l.startsWith('istio_requests_total{'))
        .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
      console.log(`mesha after the reporter rows: istio_requests_total (all series) ${istio}`);
    }
  } finally {
    await mesha?.stop();
    await upstreamProc.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
