/**
 * npm run bench:state — what durable state (STATE_DIR) costs, in one run against the same build:
 *
 * 1. ingest: structured reports (v1, or v2 with BENCH_STATE_REPORT=v2) from BENCH_STATE_REPORTERS concurrent reporters (each sends its seqs in
 *    order and waits for the acknowledgement, as the reporter does) to mesha without STATE_DIR and with it,
 *    alternating, BENCH_ROUNDS rounds of BENCH_STATE_SECONDS each: reports/s and latency; ratio on/off.
 * 2. restart: mesha holding BENCH_STATE_SERIES series (100,000: 16 per observed-traffic label set), stopped with SIGTERM and started again: time
 *    from spawn to ready without state (empty) and with it (restoring everything), and the state file size.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stopAllProcesses } from '../test/support/child-process';
import { startMesha, type MeshaProcess } from '../test/support/mesha';
import { scrape, sumSamples } from '../test/support/prometheus-text';
import { validReport, validReportV2 } from '../test/support/report-fixture';

const REPORTERS = Number(process.env.BENCH_STATE_REPORTERS ?? 32);
const SECONDS = Number(process.env.BENCH_STATE_SECONDS ?? 8);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const SERIES = Number(process.env.BENCH_STATE_SERIES ?? 100_000);
/** Which reports the ingest rounds send: v1 (traffic mode, default) or v2 (istio mode, Istio's families). */
const VERSION = process.env.BENCH_STATE_REPORT === 'v2' ? 2 : 1;
const reportBody = (id: string, seq: number) =>
  JSON.stringify(
    VERSION === 2
      ? validReportV2({ reporter: { id, seq } })
      : validReport({ reporter: { id, seq } }),
  );
/** Series per label set of the observed-traffic families: requests, bytes out, 12 buckets, sum, count. */
const SERIES_PER_LABEL_SET = 16;
const LABEL_SETS = Math.ceil(SERIES / SERIES_PER_LABEL_SET);

const budgetMs = (2 * ROUNDS * (SECONDS + 15) + 300) * 1000;
setTimeout(() => {
  console.error(`bench:state: over its ${budgetMs / 1000} s budget, stopping`);
  void stopAllProcesses().finally(() => process.exit(1));
}, budgetMs).unref();

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const hexId = (i: number) => i.toString(16).padStart(16, '0');

interface IngestResult {
  perSecond: number;
  p50: number;
  p99: number;
  errors: number;
  /** Reports made durable per fdatasync (state on). */
  perCommit?: number;
}

async function ingest(mesha: MeshaProcess, round: number): Promise<IngestResult> {
  const latencies: number[] = [];
  let errors = 0;
  const until = performance.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: REPORTERS }, async (_, r) => {
      const id = hexId(round * 1_000 + r + 1);
      for (let seq = 1; performance.now() < until; seq++) {
        const started = performance.now();
        const res = await fetch(`${mesha.url}/wasmCallback`, {
          method: 'POST',
          headers: { melonMsg: 'bench', 'Content-Type': 'application/json' },
          body: reportBody(id, seq),
        });
        await res.text();
        if (res.status === 200) latencies.push(performance.now() - started);
        else errors++;
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  return {
    perSecond: latencies.length / SECONDS,
    p50: latencies[Math.floor(latencies.length * 0.5)],
    p99: latencies[Math.floor(latencies.length * 0.99)],
    errors,
  };
}

async function fill(mesha: MeshaProcess): Promise<void> {
  const template = validReport().counts[0];
  for (let from = 0, seq = 1; from < LABEL_SETS; from += 1024, seq++) {
    const counts = Array.from({ length: Math.min(1024, LABEL_SETS - from) }, (_, i) => ({
      ...template,
      route: `route-${from + i}`,
    }));
    const res = await fetch(`${mesha.url}/wasmCallback`, {
      method: 'POST',
      headers: { melonMsg: 'fill', 'Content-Type': 'application/json' },
      body: JSON.stringify(validReport({ reporter: { id: hexId(0xfeed), seq }, counts })),
    });
    if (res.status !== 200) throw new Error(`fill: ${res.status} ${await res.text()}`);
  }
}

async function timedStart(
  env: Record<string, string>,
): Promise<{ mesha: MeshaProcess; ms: number }> {
  const started = performance.now();
  const mesha = await startMesha(env);
  return { mesha, ms: performance.now() - started };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'mesha-bench-state-'));
  try {
    console.log(
      `bench:state: ${REPORTERS} reporters sending v${VERSION} reports, ${ROUNDS} rounds of ${SECONDS} s per setting; restart with ${fmt(SERIES)} series`,
    );
    console.log(
      '(the machine is shared with other work today: compare the ratios, not absolute figures)\n',
    );

    const off: IngestResult[] = [];
    const on: IngestResult[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      for (const withState of [false, true]) {
        const mesha = await startMesha(
          withState ? { STATE_DIR: join(dir, `ingest-${round}`) } : {},
        );
        const result = await ingest(mesha, round);
        (withState ? on : off).push(result);
        if (withState) {
          const samples = await scrape(mesha.url);
          result.perCommit =
            sumSamples(samples, 'mesha_state_records_committed_total') /
            sumSamples(samples, 'mesha_state_commits_total');
        }
        await mesha.stop();
        console.log(
          `  round ${round + 1}, state ${withState ? 'on ' : 'off'}: ${fmt(result.perSecond)} reports/s, p50 ${result.p50.toFixed(1)} ms, p99 ${result.p99.toFixed(1)} ms, ${result.errors} errors` +
            (result.perCommit === undefined
              ? ''
              : `, ${result.perCommit.toFixed(1)} reports per commit`),
        );
      }
    }
    const rate = (rs: IngestResult[]) => median(rs.map((r) => r.perSecond));
    const p99 = (rs: IngestResult[]) => median(rs.map((r) => r.p99));
    console.log(
      `ingest, medians: state off ${fmt(rate(off))} reports/s (p99 ${p99(off).toFixed(1)} ms), on ${fmt(rate(on))} reports/s (p99 ${p99(on).toFixed(1)} ms); ratio on/off ${(rate(on) / rate(off)).toFixed(2)}\n`,
    );

    const stateDir = join(dir, 'restart');
    const env = { STATE_DIR: stateDir, MAX_SERIES: String(LABEL_SETS + 100) };
    let { mesha } = await timedStart(env);
    const fillStarted = performance.now();
    await fill(mesha);
    const fillSeconds = (performance.now() - fillStarted) / 1000;
    const before = sumSamples(await scrape(mesha.url), 'mesha_observed_requests_total');
    const rssBefore = sumSamples(await scrape(mesha.url), 'process_resident_memory_bytes');
    await mesha.stop();
    const fileBytes = statSync(join(stateDir, 'mesha-state.log')).size;

    const empty = await timedStart({ MAX_SERIES: String(LABEL_SETS + 100) });
    const rssEmpty = sumSamples(await scrape(empty.mesha.url), 'process_resident_memory_bytes');
    await empty.mesha.stop();
    const restored = await timedStart(env);
    mesha = restored.mesha;
    const after = sumSamples(await scrape(mesha.url), 'mesha_observed_requests_total');
    await mesha.stop();
    if (after !== before) throw new Error(`restart lost counts: ${before} before, ${after} after`);
    console.log(
      `restart with ${fmt(SERIES)} series, ${fmt(LABEL_SETS)} label sets (filled in ${fillSeconds.toFixed(1)} s, RSS ${fmt(rssBefore / 2 ** 20)} MiB):`,
    );
    console.log(
      `  memory: RSS ${fmt(rssEmpty / 2 ** 20)} MiB empty, ${fmt(rssBefore / 2 ** 20)} MiB holding them: ~${fmt((rssBefore - rssEmpty) / SERIES)} bytes per series (state on)`,
    );
    console.log(
      `  state file ${(fileBytes / 2 ** 20).toFixed(1)} MiB (${fmt(fileBytes / LABEL_SETS)} bytes per label set)`,
    );
    console.log(
      `  spawn to ready: empty ${fmt(empty.ms)} ms, restoring ${fmt(restored.ms)} ms (ratio ${(restored.ms / empty.ms).toFixed(2)}); totals equal (${fmt(after)} requests)`,
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
