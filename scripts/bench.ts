/**
 * npm run bench — mesha (built, dist/main.js) against a bare Fastify server doing the same work,
 * loaded over loopback with identical settings by autocannon running in a separate process.
 * Then: /metrics render time and RSS at 10,000 series, and a soak run (RSS growth, errors).
 *
 * Env: BENCH_CONNECTIONS (50), BENCH_DURATION_SECONDS (10), BENCH_ROUNDS (2: mesha and bare
 * alternate), BENCH_SOAK_SECONDS (60; 0 skips),
 * BENCH_SERIES (10000: label sets of mesha's own metrics during the /metrics measurement).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import type { LoadOptions, LoadResult } from './bench/load';

const ROOT = resolve(__dirname, '..');
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const DURATION = Number(process.env.BENCH_DURATION_SECONDS ?? 10);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const SOAK = Number(process.env.BENCH_SOAK_SECONDS ?? 60);
/** Series in the /metrics measurement: each distinct melonMsg makes two (counter + gauge). */
const SERIES = Number(process.env.BENCH_SERIES ?? 10_000);
const SEED = {
  method: 'POST',
  headers: { melonMsg: 'my header from wasm envoy reporter', accept: '*/*' },
  body: "i'm wasm from wasm filter !!!",
};

const children = new Set<ChildProcess>();
function stopAll(): void {
  for (const child of children) child.kill('SIGKILL');
}
process.on('exit', stopAll);
// Bounded in time whatever happens.
const budgetMs = (DURATION * 2 * ROUNDS + 4 + SOAK + 180) * 1000;
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
  args: string[],
  env: Record<string, string>,
): Promise<Server> {
  const port = await freePort();
  const child = spawn(process.execPath, args, {
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
    const ok = await fetch(`${url}/readyz`).then(
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

function load(options: LoadOptions): Promise<LoadResult> {
  return new Promise((done, fail) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', resolve(__dirname, 'bench', 'load.ts'), JSON.stringify(options)],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    children.add(child);
    let out = '';
    child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
    child.on('exit', (code) => {
      children.delete(child);
      if (code !== 0) return fail(new Error(`load generator exited ${code}`));
      done(JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as LoadResult);
    });
  });
}

/** CPU time (user + system) the process has used so far, in ms: less sensitive to noisy neighbours. */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
  return (ticks * 1000) / 100; // USER_HZ is 100 on Linux
}

function rssMiB(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : NaN;
}

const seedLoad = (url: string, duration: number): LoadOptions => ({
  url: `${url}/wasmCallback`,
  connections: CONNECTIONS,
  duration,
  ...SEED,
});

const fmt = (n: number, digits = 1) => n.toFixed(digits);
const row = (name: string, r: LoadResult) =>
  `${name.padEnd(6)} ${fmt(r.rps, 0).padStart(9)} req/s   p50 ${fmt(r.p50)} ms   p99 ${fmt(r.p99)} ms   ` +
  `errors ${r.errors + r.timeouts}   non-2xx ${r.non2xx}   (${r.requests} requests)`;

async function main(): Promise<void> {
  if (!existsSync(resolve(ROOT, 'dist', 'main.js'))) {
    throw new Error('dist/main.js is missing: run npm run build first');
  }
  console.log(
    `bench: ${CONNECTIONS} connections, ${DURATION} s per run, the seed's request, loopback`,
  );
  const mesha = await startServer('mesha', ['dist/main.js'], {});
  const bare = await startServer('bare', ['--import', 'tsx', 'scripts/bench/bare-server.ts'], {});

  // Warm both (JIT), then measure each with identical settings, alternating the order over
  // ROUNDS rounds so that a noisy neighbour hurts both alike.
  await load(seedLoad(mesha.url, 2));
  await load(seedLoad(bare.url, 2));
  const runs: Record<'mesha' | 'bare', LoadResult[]> = { mesha: [], bare: [] };
  console.log('\n== throughput and latency ==');
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? (['mesha', 'bare'] as const) : (['bare', 'mesha'] as const);
    for (const name of order) {
      const result = await load(seedLoad((name === 'mesha' ? mesha : bare).url, DURATION));
      runs[name].push(result);
      console.log(row(name, result));
    }
  }
  await bare.stop();
  const total = (results: LoadResult[]) => results.reduce((sum, r) => sum + r.requests, 0);
  const median = (values: number[]) =>
    [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
  console.log(
    `ratio mesha/bare (all rounds): ${fmt(total(runs.mesha) / total(runs.bare), 3)} (goal >= 0.85); ` +
      `mesha p99 median ${fmt(median(runs.mesha.map((r) => r.p99)))} ms (goal < 10 ms)`,
  );

  // Soak on the warmed mesha: errors, and RSS sampled every second. The first 20 % of the run
  // is the baseline's warm-up (heap growth to its working size); growth is measured after it.
  if (SOAK > 0) {
    const samples: number[] = [rssMiB(mesha.pid)];
    const sampler = setInterval(() => samples.push(rssMiB(mesha.pid)), 1000);
    const soak = await load(seedLoad(mesha.url, SOAK));
    clearInterval(sampler);
    samples.push(rssMiB(mesha.pid));
    const baseline = samples[Math.min(samples.length - 1, Math.ceil(SOAK * 0.2))];
    const end = samples[samples.length - 1];
    console.log(`\n== soak: ${SOAK} s at ${CONNECTIONS} connections ==`);
    console.log(row('mesha', soak));
    console.log(
      `RSS: start ${fmt(samples[0])} MiB, after ${Math.ceil(SOAK * 0.2)} s ${fmt(baseline)} MiB, ` +
        `end ${fmt(end)} MiB, max ${fmt(Math.max(...samples))} MiB; ` +
        `growth after warm-up ${fmt(((end - baseline) / baseline) * 100)} % (goal < 10 %)`,
    );
  }
  await mesha.stop();

  // /metrics at SERIES series: a fresh mesha fed SERIES / 2 distinct melonMsg values (each one is
  // a mesha_reports_total series and a mesha_report_last_received_timestamp_seconds series).
  const big = await startServer('mesha', ['dist/main.js'], { MAX_SERIES: String(SERIES) });
  const fill = await load({
    url: `${big.url}/wasmCallback`,
    connections: 10,
    amount: Math.ceil(SERIES / 2),
    method: 'POST',
    headers: { melonMsg: 'msg-[<id>]' },
    body: 'x',
    idReplacement: true,
  });
  const first = await (await fetch(`${big.url}/metrics`)).text();
  const lines = first.split('\n');
  const meshaSeries = lines.filter(
    (l) => l.startsWith('mesha_reports_total{') || l.startsWith('mesha_report_last_received'),
  ).length;
  const allSamples = lines.filter((l) => l !== '' && !l.startsWith('#')).length;
  const times: number[] = [];
  const cpuBefore = cpuMs(big.pid);
  for (let i = 0; i < 20; i++) {
    const start = process.hrtime.bigint();
    const res = await fetch(`${big.url}/metrics`);
    await res.text();
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  const cpuPerRender = (cpuMs(big.pid) - cpuBefore) / 20;
  times.sort((a, b) => a - b);
  console.log(`\n== /metrics with ${meshaSeries} report series (${allSamples} samples in all) ==`);
  console.log(`fill: ${fill.requests} reports, ${fill.non2xx + fill.errors} failed`);
  console.log(
    `render (GET /metrics, 20 scrapes): median ${fmt(times[10])} ms, max ${fmt(times[19])} ms, ` +
      `${fmt(first.length / 1024 / 1024, 2)} MiB text (goal < 50 ms)`,
  );
  console.log(`mesha CPU time per render: ${fmt(cpuPerRender)} ms (10 ms resolution, averaged)`);
  console.log(`RSS: ${fmt(rssMiB(big.pid))} MiB`);
  await big.stop();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
