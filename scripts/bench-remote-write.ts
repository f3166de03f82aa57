/**
 * npm run bench:remote-write — what remote write costs and how fast it goes, against a real receiver
 * (Debian's Prometheus with --web.enable-remote-write-receiver) on loopback, in one run:
 *
 * 1. capacity: the remote-write pipeline (registry snapshot, protobuf, snappy, HTTP, the receiver's
 *    ingestion) in this process, snapshots back to back: samples/s, median of BENCH_ROUNDS; and the
 *    encoding alone (no network) as its baseline.
 * 2. steady state against the peer: two mesha processes filled with the same series. One pushes them
 *    itself every BENCH_RW_INTERVAL_SECONDS; the other is scraped as often by the peer, a Prometheus
 *    in agent mode (scrape + remote write only: what a platform would run instead), which forwards to the
 *    same receiver. Samples/s delivered and CPU per million samples for both paths (for the peer path:
 *    the agent's CPU plus the scraped mesha's).
 *
 * Env: BENCH_RW_ROUTES (2000 label sets: ~16 samples each), BENCH_RW_SECONDS (20),
 * BENCH_RW_INTERVAL_SECONDS (5), BENCH_ROUNDS (3).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Counter, Histogram, Registry } from 'prom-client';
import { HttpPoster } from '../src/remote-write/http-post';
import { RemoteWriteMetrics } from '../src/remote-write/remote-write.metrics';
import { RemoteWriter } from '../src/remote-write/remote-writer';
import { snapshotSeries } from '../src/remote-write/snapshot';
import { encodeWriteRequest, REMOTE_WRITE_HEADERS } from '../src/remote-write/write-request';
import { BUCKET_BOUNDS_MS } from '../src/reports/report-validator';
import { startProcess, stopAllProcesses, waitForHttpOk } from '../test/support/child-process';
import { startMesha, type MeshaProcess } from '../test/support/mesha';
import { freePort } from '../test/support/ports';
import { scrape, sumSamples } from '../test/support/prometheus-text';
import { validReport } from '../test/support/report-fixture';
import { waitFor } from '../test/support/wait-for';

const ROUTES = Number(process.env.BENCH_RW_ROUTES ?? 2000);
const SECONDS = Number(process.env.BENCH_RW_SECONDS ?? 20);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const INTERVAL = Number(process.env.BENCH_RW_INTERVAL_SECONDS ?? 5);

const budgetMs = (SECONDS + 30 * ROUNDS + 180) * 1000;
setTimeout(() => {
  console.error(`bench:remote-write: over its ${budgetMs / 1000} s budget, stopping`);
  void stopAllProcesses().finally(() => process.exit(1));
}, budgetMs).unref();

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

async function startReceiver(dir: string): Promise<string> {
  const port = await freePort();
  const config = join(dir, 'receiver.yml');
  writeFileSync(config, 'global:\n  evaluation_interval: 1m\n');
  const proc = startProcess('prometheus', [
    `--config.file=${config}`,
    `--storage.tsdb.path=${join(dir, 'receiver')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--web.enable-remote-write-receiver',
  ]);
  await waitForHttpOk(proc, `http://127.0.0.1:${port}/-/ready`, 60_000);
  return `http://127.0.0.1:${port}/api/v1/write`;
}

/** A registry shaped like mesha's observed-traffic families: a counter, bytes and a histogram per route. */
function filledRegistry(): Registry {
  const registry = new Registry();
  const labelNames = ['source_workload', 'source_namespace', 'method', 'code', 'route'];
  const requests = new Counter({
    name: 'bench_requests_total',
    help: 'r',
    labelNames,
    registers: [registry],
  });
  const bytes = new Counter({
    name: 'bench_bytes_total',
    help: 'b',
    labelNames,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'bench_duration_seconds',
    help: 'd',
    labelNames,
    buckets: BUCKET_BOUNDS_MS.map((ms) => ms / 1000),
    registers: [registry],
  });
  for (let i = 0; i < ROUTES; i++) {
    const labels = {
      source_workload: 'shop',
      source_namespace: 'default',
      method: 'GET',
      code: '2xx',
      route: `route-${i}`,
    };
    requests.inc(labels, i);
    bytes.inc(labels, 100 * i);
    duration.observe(labels, (i % 100) / 100);
  }
  return registry;
}

async function capacity(
  url: string,
): Promise<{ pipeline: number; encode: number; samples: number }> {
  const registry = filledRegistry();
  const labels = [
    { name: 'job', value: 'bench' },
    { name: 'instance', value: 'capacity' },
  ];
  const samples = (await snapshotSeries(registry, labels)).length;
  const poster = new HttpPoster({
    url: new URL(url),
    headers: { ...REMOTE_WRITE_HEADERS },
    timeoutMs: 30_000,
    rejectUnauthorized: true,
  });
  const writer: RemoteWriter = new RemoteWriter(
    {
      batchSamples: 2_000,
      queueSamples: 10_000_000,
      minBackoffMs: 100,
      maxBackoffMs: 1_000,
      timeoutMs: 30_000,
    },
    {
      collect: () => snapshotSeries(registry, labels),
      post: (body, timeoutMs) => poster.post(body, timeoutMs),
      clock: { now: () => Date.now() },
      sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      observer: new RemoteWriteMetrics(new Registry(), () => writer.queuedSamples),
      log: { warn: (fields, message) => console.error(message, fields) },
    },
  );
  const pipeline: number[] = [];
  const encode: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    let started = performance.now();
    for (let i = 0; i < 5; i++) {
      await writer.snapshot();
      await writer.idle();
    }
    pipeline.push((5 * samples) / ((performance.now() - started) / 1000));

    started = performance.now();
    for (let i = 0; i < 5; i++) {
      const series = await snapshotSeries(registry, labels);
      for (let from = 0; from < series.length; from += 2_000) {
        await encodeWriteRequest(series.slice(from, from + 2_000), Date.now());
      }
    }
    encode.push((5 * samples) / ((performance.now() - started) / 1000));
  }
  await writer.stop();
  poster.close();
  return { pipeline: median(pipeline), encode: median(encode), samples };
}

async function fill(mesha: MeshaProcess): Promise<void> {
  const template = validReport().counts[0];
  let seq = 1;
  for (let from = 0; from < ROUTES; from += 1024, seq++) {
    const counts = Array.from({ length: Math.min(1024, ROUTES - from) }, (_, i) => ({
      ...template,
      route: `route-${from + i}`,
    }));
    const res = await fetch(`${mesha.url}/wasmCallback`, {
      method: 'POST',
      headers: { melonMsg: 'bench', 'Content-Type': 'application/json' },
      body: JSON.stringify(validReport({ reporter: { id: '00000000000beec0', seq }, counts })),
    });
    if (res.status !== 200) throw new Error(`fill: ${res.status} ${await res.text()}`);
  }
}

const cpuOf = async (url: string) => sumSamples(await scrape(url), 'process_cpu_seconds_total');

async function steadyState(url: string, dir: string) {
  const direct = await startMesha({
    MAX_SERIES: String(ROUTES + 100),
    REMOTE_WRITE_URL: url,
    REMOTE_WRITE_INTERVAL_SECONDS: String(INTERVAL),
    REMOTE_WRITE_REPLICA: 'bench-direct',
  });
  const scraped = await startMesha({ MAX_SERIES: String(ROUTES + 100) });
  await fill(direct);
  await fill(scraped);

  const agentPort = await freePort();
  const agentUrl = `http://127.0.0.1:${agentPort}`;
  const config = join(dir, 'agent.yml');
  writeFileSync(
    config,
    [
      'global:',
      `  scrape_interval: ${INTERVAL}s`,
      `  scrape_timeout: ${INTERVAL}s`,
      'scrape_configs:',
      '  - job_name: mesha',
      '    static_configs:',
      `      - targets: ['127.0.0.1:${scraped.port}']`,
      'remote_write:',
      `  - url: ${url}`,
      '',
    ].join('\n'),
  );
  const agent = startProcess('prometheus', [
    '--enable-feature=agent',
    `--config.file=${config}`,
    `--storage.agent.path=${join(dir, 'agent')}`,
    `--web.listen-address=127.0.0.1:${agentPort}`,
  ]);
  await waitForHttpOk(agent, `${agentUrl}/-/ready`, 60_000);
  const agentSent = async () =>
    sumSamples(await scrape(agentUrl), 'prometheus_remote_storage_samples_total');
  await waitFor('the agent to forward samples', async () => (await agentSent()) > 0, {
    timeoutMs: 60_000,
    intervalMs: 500,
  });
  const directSent = async () =>
    sumSamples(await scrape(direct.url), 'mesha_remote_write_samples_sent_total');

  const before = {
    direct: await directSent(),
    directCpu: await cpuOf(direct.url),
    agent: await agentSent(),
    agentCpu: await cpuOf(agentUrl),
    scrapedCpu: await cpuOf(scraped.url),
    at: performance.now(),
  };
  await new Promise((resolve) => setTimeout(resolve, SECONDS * 1000));
  const seconds = (performance.now() - before.at) / 1000;
  const directSamples = (await directSent()) - before.direct;
  const directCpu = (await cpuOf(direct.url)) - before.directCpu;
  const agentSamples = (await agentSent()) - before.agent;
  const peerCpu =
    (await cpuOf(agentUrl)) - before.agentCpu + ((await cpuOf(scraped.url)) - before.scrapedCpu);
  const last = await scrape(direct.url);
  const dropped = sumSamples(last, 'mesha_remote_write_samples_dropped_total');
  const lagP99 = sumSamples(last, 'nodejs_eventloop_lag_p99_seconds');
  await agent.stop();
  await direct.stop();
  await scraped.stop();
  return {
    seconds,
    direct: {
      perSecond: directSamples / seconds,
      cpuPerMillion: (directCpu / directSamples) * 1e6,
      dropped,
      lagP99,
    },
    peer: { perSecond: agentSamples / seconds, cpuPerMillion: (peerCpu / agentSamples) * 1e6 },
  };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'mesha-bench-rw-'));
  try {
    const url = await startReceiver(dir);
    console.log(
      `bench:remote-write: ${ROUTES} label sets, receiver ${url} (Debian Prometheus), ${ROUNDS} rounds, ${SECONDS} s steady state`,
    );
    console.log(
      '(the machine is shared with other work today: compare the ratios, not absolute figures)\n',
    );

    const cap = await capacity(url);
    console.log(
      `capacity, snapshots of ${fmt(cap.samples)} samples back to back (median of ${ROUNDS}):`,
    );
    console.log(
      `  pipeline (snapshot + protobuf + snappy + HTTP + receiver): ${fmt(cap.pipeline)} samples/s`,
    );
    console.log(
      `  encoding alone (snapshot + protobuf + snappy):             ${fmt(cap.encode)} samples/s`,
    );
    console.log(`  ratio pipeline/encoding: ${(cap.pipeline / cap.encode).toFixed(2)}\n`);

    const steady = await steadyState(url, dir);
    console.log(`steady state, every ${INTERVAL} s, measured over ${steady.seconds.toFixed(1)} s:`);
    console.log(
      `  mesha remote write:             ${fmt(steady.direct.perSecond)} samples/s, ${steady.direct.cpuPerMillion.toFixed(2)} CPU s per 1M samples, dropped ${steady.direct.dropped}, event-loop lag p99 ${(steady.direct.lagP99 * 1000).toFixed(1)} ms`,
    );
    console.log(
      `  peer: scraped by Prometheus agent: ${fmt(steady.peer.perSecond)} samples/s, ${steady.peer.cpuPerMillion.toFixed(2)} CPU s per 1M samples (agent + scraped mesha)`,
    );
    console.log(
      `  ratio CPU per sample mesha/peer: ${(steady.direct.cpuPerMillion / steady.peer.cpuPerMillion).toFixed(2)}`,
    );
  } finally {
    await stopAllProcesses();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch(async (err: unknown) => {
  console.error(err);
  await stopAllProcesses();
  process.exit(1);
});
