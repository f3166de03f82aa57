/**
 * npm run bench:state — what durable state (STATE_DIR) costs, in one run against the same build:
 *
 * 1. ingest, loaded with wrk (Debian's) over BENCH_STATE_CONNECTIONS connections: structured reports
 *    (v1, or v2 with BENCH_STATE_REPORT=v2; one reporter, a new seq per request through wrk's body
 *    template) and seed-style text reports, to mesha without STATE_DIR and with it, alternating,
 *    BENCH_ROUNDS rounds of BENCH_STATE_SECONDS each: reports/s and latency, medians, ratio on/off,
 *    and reports per group commit (one fdatasync).
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
import { runWrk, type WrkRequest, type WrkResult } from './bench/wrk';

const CONNECTIONS = Number(process.env.BENCH_STATE_CONNECTIONS ?? 32);
const SECONDS = Number(process.env.BENCH_STATE_SECONDS ?? 8);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SERIES = Number(process.env.BENCH_STATE_SERIES ?? 100_000);
/** Which structured reports the ingest rounds send: v1 (traffic mode, default) or v2 (istio mode). */
const VERSION = process.env.BENCH_STATE_REPORT === 'v2' ? 2 : 1;
/** A seq no fixture uses, replaced by wrk's `{seq}` (1, 2, 3... per request). */
const SEQ_MARK = 987654321;
const structuredTemplate = JSON.stringify(
  VERSION === 2
    ? validReportV2({ reporter: { id: 'b'.repeat(16), seq: SEQ_MARK } })
    : validReport({ reporter: { id: 'b'.repeat(16), seq: SEQ_MARK } }),
).replace(String(SEQ_MARK), '{seq}');
/** Series per label set of the observed-traffic families: requests, bytes out, 12 buckets, sum, count. */
const SERIES_PER_LABEL_SET = 16;
const LABEL_SETS = Math.ceil(SERIES / SERIES_PER_LABEL_SET);

const KINDS = {
  structured: (url: string): WrkRequest => ({
    url: `${url}/wasmCallback`,
    method: 'POST',
    headers: { melonMsg: 'bench', 'Content-Type': 'application/json' },
    bodyTemplate: structuredTemplate,
  }),
  text: (url: string): WrkRequest => ({
    url: `${url}/wasmCallback?pod=bench-pod`,
    method: 'POST',
    headers: { melonMsg: 'bench', 'Content-Type': 'text/plain' },
    body: 'reqId: 1, status: 200, duration: 3ms',
  }),
};
type Kind = keyof typeof KINDS;

const budgetMs = (2 * ROUNDS * (2 * SECONDS + 15) + 300) * 1000;
setTimeout(() => {
  console.error(`bench:state: over its ${budgetMs / 1000} s budget, stopping`);
  void stopAllProcesses().finally(() => process.exit(1));
}, budgetMs).unref();

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const hexId = (i: number) => i.toString(16).padStart(16, '0');

interface IngestResult extends WrkResult {
  /** Reports made durable per fdatasync (state on). */
  perCommit?: number;
}

async function ingest(mesha: MeshaProcess, kind: Kind, withState: boolean): Promise<IngestResult> {
  const before = withState ? await commits(mesha) : undefined;
  const result: IngestResult = await runWrk(KINDS[kind](mesha.url), CONNECTIONS, SECONDS);
  if (before) {
    const after = await commits(mesha);
    // Reports, not records: a structured report writes two (its totals, and its ingest counters).
    result.perCommit = result.requests / (after.groups - before.groups);
  }
  return result;
}

async function commits(mesha: MeshaProcess): Promise<{ groups: number }> {
  return { groups: sumSamples(await scrape(mesha.url), 'mesha_state_commits_total') };
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
      `bench:state: wrk, ${CONNECTIONS} connections, structured v${VERSION} and text reports, ${ROUNDS} rounds of ${SECONDS} s per setting; restart with ${fmt(SERIES)} series`,
    );
    console.log(
      '(the machine is shared with other work today: compare the ratios, not absolute figures)\n',
    );

    const results: Record<Kind, Record<'on' | 'off', IngestResult[]>> = {
      structured: { on: [], off: [] },
      text: { on: [], off: [] },
    };
    for (let round = 0; round < ROUNDS; round++) {
      for (const withState of [false, true]) {
        const env: Record<string, string> = { PARAM_LABELS: 'pod' };
        if (withState) env.STATE_DIR = join(dir, `ingest-${round}`);
        const mesha = await startMesha(env);
        for (const kind of Object.keys(KINDS) as Kind[]) {
          await runWrk(KINDS[kind](mesha.url), CONNECTIONS, 1); // warm-up
          const result = await ingest(mesha, kind, withState);
          results[kind][withState ? 'on' : 'off'].push(result);
          console.log(
            `  round ${round + 1}, ${kind.padEnd(10)} state ${withState ? 'on ' : 'off'}: ${fmt(result.rps)} reports/s, p50 ${result.p50Ms.toFixed(1)} ms, p99 ${result.p99Ms.toFixed(1)} ms, ${result.errors} errors` +
              (result.perCommit === undefined
                ? ''
                : `, ${result.perCommit.toFixed(1)} reports per commit`),
          );
        }
        await mesha.stop();
      }
    }
    const rate = (rs: IngestResult[]) => median(rs.map((r) => r.rps));
    const p99 = (rs: IngestResult[]) => median(rs.map((r) => r.p99Ms));
    for (const kind of Object.keys(KINDS) as Kind[]) {
      const { on, off } = results[kind];
      console.log(
        `ingest ${kind}, medians: state off ${fmt(rate(off))} reports/s (p99 ${p99(off).toFixed(1)} ms), on ${fmt(rate(on))} reports/s (p99 ${p99(on).toFixed(1)} ms, ${median(on.map((r) => r.perCommit ?? 0)).toFixed(1)} reports per commit); ratio on/off ${(rate(on) / rate(off)).toFixed(2)}`,
      );
    }
    console.log('');

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
