import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stopAllProcesses } from './support/child-process';
import { startMesha, type MeshaProcess } from './support/mesha';
import { postReport } from './support/post-report';
import { scrape, sumSamples } from './support/prometheus-text';
import { waitFor } from './support/wait-for';

/** Sequential senders, one melonMsg each; sender i sends bodies of 10 * (i + 1) bytes. */
const SENDERS = 8;
const bodyOf = (i: number) => 'x'.repeat(10 * (i + 1));
const ENV = { PARAM_LABELS: 'pod' };

const postText = (mesha: MeshaProcess, msg: string, body: string, query = '') =>
  postReport(mesha.url, { msg, body, query, contentType: 'text/plain' });

/** The seed-style metrics of sender i, as /metrics shows them. */
async function countsOf(mesha: MeshaProcess) {
  const samples = await scrape(mesha.url);
  return {
    reports: Array.from({ length: SENDERS }, (_, i) =>
      sumSamples(samples, 'mesha_reports_total', { msg: `sender-${i}` }),
    ),
    params: Array.from({ length: SENDERS }, (_, i) =>
      sumSamples(samples, 'mesha_report_params_total', { key: 'pod', value: `pod-${i}` }),
    ),
    lastReceived: Array.from({ length: SENDERS }, (_, i) =>
      sumSamples(samples, 'mesha_report_last_received_timestamp_seconds', { msg: `sender-${i}` }),
    ),
    bodyCount: sumSamples(samples, 'mesha_report_body_bytes_count'),
    bodySum: sumSamples(samples, 'mesha_report_body_bytes_sum'),
    rejectedMissingHeader: sumSamples(samples, 'mesha_rejected_reports_total', {
      reason: 'missing_header',
    }),
  };
}

/** Durable state (STATE_DIR) for the seed's text reports: the counters survive SIGKILL and SIGTERM. */
describe('mesha with STATE_DIR: seed-style text reports', () => {
  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'mesha-state-text-'));
  });

  afterAll(async () => {
    await stopAllProcesses();
    rmSync(dir, { recursive: true, force: true });
  });

  it('SIGKILL mid-load: every acknowledged report counted exactly once after the restart', async () => {
    const stateDir = join(dir, 'kill');
    // A small compaction bound: the log is rewritten from snapshots many times under the load.
    const env = { ...ENV, STATE_DIR: stateDir, STATE_COMPACT_BYTES: '4096' };
    let mesha = await startMesha(env);
    expect(await postText(mesha, '', 'no header')).toBe(400); // a rejection, kept too
    const acked = new Array<number>(SENDERS).fill(0);
    const unanswered = new Array<number>(SENDERS).fill(0);
    let killed = false;
    const senders = Array.from({ length: SENDERS }, async (_, i) => {
      while (!killed) {
        const status = await postText(mesha, `sender-${i}`, bodyOf(i), `?pod=pod-${i}&other=x`);
        if (status === 200) acked[i]++;
        else unanswered[i]++;
      }
    });
    const total = () => acked.reduce((a, b) => a + b, 0);
    await waitFor('text reports to be acknowledged', () => total() >= 400, { timeoutMs: 60_000 });
    await mesha.stop('SIGKILL', 0);
    killed = true;
    await Promise.all(senders);

    mesha = await startMesha(env);
    const after = await countsOf(mesha);
    // A sender has at most one report in flight: the one the kill cut may or may not be on disk.
    for (let i = 0; i < SENDERS; i++) {
      expect(after.reports[i]).toBeGreaterThanOrEqual(acked[i]);
      expect(after.reports[i]).toBeLessThanOrEqual(acked[i] + Math.min(1, unanswered[i]));
      expect(after.params[i]).toBe(after.reports[i]);
    }
    const counted = after.reports.reduce((a, b) => a + b, 0);
    expect(after.bodyCount).toBe(counted);
    expect(after.bodySum).toBe(after.reports.reduce((sum, n, i) => sum + n * bodyOf(i).length, 0));
    expect(after.rejectedMissingHeader).toBe(1);

    // A re-sent text report counts again (text reports carry no seq: the seed's contract).
    expect(await postText(mesha, 'sender-0', bodyOf(0), '?pod=pod-0')).toBe(200);
    const resent = await countsOf(mesha);
    expect(resent.reports[0]).toBe(after.reports[0] + 1);
    expect(resent.params[0]).toBe(after.params[0] + 1);
    expect(resent.lastReceived[0]).toBeGreaterThanOrEqual(after.lastReceived[0]);
    expect(after.lastReceived[1]).toBeGreaterThan(1e9); // restored: when it was received, in s

    // SIGTERM, restart: exactly the same values.
    expect(await mesha.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    mesha = await startMesha(env);
    expect(await countsOf(mesha)).toEqual(resent);
    await mesha.stop('SIGKILL', 0);
  }, 180_000);

  it('without STATE_DIR, a restart starts the text counters from zero (as the seed)', async () => {
    let mesha = await startMesha(ENV);
    expect(await postText(mesha, 'sender-0', bodyOf(0), '?pod=pod-0')).toBe(200);
    expect((await countsOf(mesha)).reports[0]).toBe(1);
    await mesha.stop('SIGTERM');
    mesha = await startMesha(ENV);
    expect((await countsOf(mesha)).reports[0]).toBe(0);
    await mesha.stop('SIGKILL', 0);
  });
});
