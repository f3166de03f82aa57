import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startProcess, stopAllProcesses } from './support/child-process';
import { REPO_ROOT, startMesha, type MeshaProcess } from './support/mesha';
import { postReport } from './support/post-report';
import { scrape, sumSamples } from './support/prometheus-text';
import { validReport, validReportV2 } from './support/report-fixture';
import { waitFor } from './support/wait-for';

const MESHA_MAIN = resolve(REPO_ROOT, 'dist', 'main.js');
const REPORTERS = Array.from({ length: 6 }, (_, i) => `${i + 1}`.repeat(16));
/** Reporters in the istio mode (v2 reports, Istio's istio_* families). */
const V2_REPORTERS = ['a', 'b', 'c'].map((c) => c.repeat(16));
const SEQS = 40;
/** v1, each report: 3 GET 2xx requests (buckets 1,1,...,1), 12 s total, 900 bytes out (the fixture). */
const body = (id: string, seq: number) =>
  V2_REPORTERS.includes(id)
    ? JSON.stringify(validReportV2({ reporter: { id, seq } }))
    : JSON.stringify(validReport({ reporter: { id, seq } }));

const post = (mesha: MeshaProcess, id: string, seq: number) =>
  postReport(mesha.url, { msg: 'traffic', body: body(id, seq), contentType: 'application/json' });

async function totals(mesha: MeshaProcess) {
  const samples = await scrape(mesha.url);
  const observed = { route: 'api' };
  return {
    requests: sumSamples(samples, 'mesha_observed_requests_total', observed),
    count: sumSamples(samples, 'mesha_observed_request_duration_seconds_count', observed),
    sum: sumSamples(samples, 'mesha_observed_request_duration_seconds_sum', observed),
    firstBucket: sumSamples(samples, 'mesha_observed_request_duration_seconds_bucket', {
      le: '0.005',
    }),
    bytesOut: sumSamples(samples, 'mesha_observed_bytes_total', { direction: 'out' }),
    istioRequests: sumSamples(samples, 'istio_requests_total'),
    istio503: sumSamples(samples, 'istio_requests_total', { response_code: '503' }),
    istioDurationSum: sumSamples(samples, 'istio_request_duration_milliseconds_sum'),
    istioResponseBytesCount: sumSamples(samples, 'istio_response_bytes_count'),
  };
}

/** Durable state (STATE_DIR): restarts after SIGKILL and SIGTERM, re-sends, damaged and foreign files. */
describe('mesha with STATE_DIR', () => {
  let dir: string;
  let stateDir: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'mesha-state-e2e-'));
    stateDir = join(dir, 'state');
  });

  afterAll(async () => {
    await stopAllProcesses();
    rmSync(dir, { recursive: true, force: true });
  });

  it('SIGKILL mid-load, restart, every report re-sent: each one counted exactly once', async () => {
    let mesha = await startMesha({ STATE_DIR: stateDir });
    const acked = new Set<string>();
    let killed = false;
    // One sequential sender per reporter, as a reporter sends; mesha is killed while they run.
    const senders = [...REPORTERS, ...V2_REPORTERS].map(async (id) => {
      for (let seq = 1; seq <= SEQS && !killed; seq++) {
        if ((await post(mesha, id, seq)) === 200) acked.add(`${id}/${seq}`);
      }
    });
    await waitFor('some reports to be acknowledged', () => acked.size >= 90, { timeoutMs: 60_000 });
    await mesha.stop('SIGKILL', 0);
    killed = true;
    await Promise.all(senders);
    const ackedBeforeCrash = acked.size;
    expect(ackedBeforeCrash).toBeLessThan((REPORTERS.length + V2_REPORTERS.length) * SEQS);
    const ackedV2 = [...acked].filter((k) => V2_REPORTERS.includes(k.split('/')[0])).length;
    expect(ackedV2).toBeGreaterThan(0);

    mesha = await startMesha({ STATE_DIR: stateDir });
    // Nothing acknowledged was lost: at least the acknowledged reports are counted after the restart.
    expect((await totals(mesha)).requests).toBeGreaterThanOrEqual(3 * (ackedBeforeCrash - ackedV2));
    expect((await totals(mesha)).istioRequests).toBeGreaterThanOrEqual(3 * ackedV2);
    // Every reporter re-sends everything (acknowledged or not), then all again: duplicates all.
    for (let round = 0; round < 2; round++) {
      const statuses = await Promise.all(
        [...REPORTERS, ...V2_REPORTERS].flatMap((id) =>
          Array.from({ length: SEQS }, (_, i) => post(mesha, id, i + 1)),
        ),
      );
      expect(statuses.every((s) => s === 200)).toBe(true);
    }
    const all = REPORTERS.length * SEQS;
    const v2 = V2_REPORTERS.length * SEQS;
    const exact = {
      requests: 3 * all,
      count: 3 * all,
      firstBucket: all,
      bytesOut: 900 * all,
      istioRequests: 3 * v2,
      istio503: v2,
      istioDurationSum: 15 * v2,
      istioResponseBytesCount: 3 * v2,
    };
    expect(await totals(mesha)).toMatchObject(exact);
    expect((await totals(mesha)).sum).toBeCloseTo(12 * all, 6);
    const duplicates = sumSamples(await scrape(mesha.url), 'mesha_duplicate_reports_total');
    expect(duplicates).toBeGreaterThanOrEqual(all + v2 + ackedBeforeCrash);

    // SIGTERM, restart: the same cumulative values, re-sends still not counted.
    expect(await mesha.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    mesha = await startMesha({ STATE_DIR: stateDir });
    expect(await totals(mesha)).toMatchObject(exact);
    expect(await post(mesha, REPORTERS[0], SEQS)).toBe(200);
    expect(await totals(mesha)).toMatchObject(exact);
    expect(mesha.output()).toContain('state: restored');
    await mesha.stop('SIGKILL', 0);
  }, 180_000);

  const startFails = async (env: Record<string, string>) => {
    const proc = startProcess(process.execPath, [MESHA_MAIN], {
      cwd: REPO_ROOT,
      env: { ...process.env, HOST: '127.0.0.1', PORT: '0', ...env },
    });
    const exit = await proc.exited;
    await proc.closed;
    return { exit, output: proc.output() };
  };

  it('a damaged state file stops mesha at start-up with a message, and is left as it was', async () => {
    const damaged = join(dir, 'damaged');
    const mesha = await startMesha({ STATE_DIR: damaged });
    for (let seq = 1; seq <= 3; seq++) expect(await post(mesha, REPORTERS[0], seq)).toBe(200);
    await mesha.stop('SIGKILL', 0);
    const file = join(damaged, 'mesha-state.log');
    const data = readFileSync(file);
    data[16 + 8 + 2] ^= 0x01; // inside the first record (the snapshot), with records after it
    writeFileSync(file, data);

    const { exit, output } = await startFails({ STATE_DIR: damaged });
    expect(exit.code).toBe(1);
    expect(output).toContain(`${file} is damaged at byte 16: a record fails its checksum`);
    expect(readFileSync(file).equals(data)).toBe(true);
  });

  it('a foreign file in STATE_DIR stops mesha at start-up', async () => {
    const foreign = join(dir, 'foreign');
    const mesha = await startMesha({ STATE_DIR: foreign });
    await mesha.stop();
    writeFileSync(join(foreign, 'mesha-state.log'), 'PK\u0003\u0004 not ours');
    const { exit, output } = await startFails({ STATE_DIR: foreign });
    expect(exit.code).toBe(1);
    expect(output).toContain('is not a mesha state file');
  });
});
