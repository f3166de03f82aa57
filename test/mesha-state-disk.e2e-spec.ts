import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stopAllProcesses } from './support/child-process';
import { startMesha, type MeshaProcess } from './support/mesha';
import { scrape, sumSamples } from './support/prometheus-text';
import { validReport } from './support/report-fixture';
import { waitFor } from './support/wait-for';

const REPORTER = 'd'.repeat(16);

/** Mounts a 256 KiB tmpfs at `dir`; false where mounting is not allowed (no CAP_SYS_ADMIN). */
function mountTmpfs(dir: string): boolean {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k,mode=0700', 'tmpfs', dir], {
      stdio: 'ignore',
    });
    return true;
  } catch {
    return false;
  }
}

/** Writes to `path` until the filesystem is full (ENOSPC). */
function fill(path: string): void {
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(4096, 1);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (err) {
    if ((err as { code?: string }).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
}

async function post(
  mesha: MeshaProcess,
  init: { msg: string; body: string; json?: boolean },
): Promise<{ status: number; retryAfter: string | null; body: string }> {
  const res = await fetch(`${mesha.url}/wasmCallback`, {
    method: 'POST',
    headers: {
      melonMsg: init.msg,
      'Content-Type': init.json ? 'application/json' : 'text/plain',
    },
    body: init.body,
  });
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body: await res.text() };
}

const text = (mesha: MeshaProcess) => post(mesha, { msg: 'disk', body: 'a text report' });
const structured = (mesha: MeshaProcess, seq: number) =>
  post(mesha, {
    msg: 'traffic',
    json: true,
    body: JSON.stringify(validReport({ reporter: { id: REPORTER, seq } })),
  });

/**
 * The state volume fails under a running mesha and comes back: reports that could not be made
 * durable get 503 (Retry-After, the cause named) and are not counted, mesha recovers by itself,
 * and what was acknowledged survives a restart. The failure is real: a full tmpfs (ENOSPC), or,
 * where mounting is not allowed, the state directory removed while every commit rewrites the file.
 */
describe('mesha with STATE_DIR on a failing disk', () => {
  let dir: string;
  let mounted = false;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'mesha-state-disk-'));
    mkdirSync(join(dir, 'volume'));
    mounted = mountTmpfs(join(dir, 'volume'));
  });

  afterAll(async () => {
    await stopAllProcesses();
    if (mounted) execFileSync('umount', [join(dir, 'volume')]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('503 while the disk fails, no report half-applied, recovery without a restart', async () => {
    const stateDir = join(dir, 'volume', 'state');
    const filler = join(dir, 'volume', 'filler');
    const env: Record<string, string> = { STATE_DIR: stateDir };
    // Without a mount: every commit rewrites the file (compaction bound at its minimum), so removing
    // the directory makes every commit fail.
    if (!mounted) env.STATE_COMPACT_BYTES = '1024';
    const breakDisk = () => (mounted ? fill(filler) : rmSync(stateDir, { recursive: true }));
    const repairDisk = () => (mounted ? rmSync(filler) : mkdirSync(stateDir));
    const code = mounted ? 'ENOSPC' : 'ENOENT';

    let mesha = await startMesha(env);
    let acked = 0;
    expect((await text(mesha)).status).toBe(200);
    acked++;
    expect((await structured(mesha, 1)).status).toBe(200);

    breakDisk();
    // The log file's last page may still take a few records: send until one is refused.
    const refused = await waitFor(
      'a report refused for want of disk',
      async () => {
        const answer = await text(mesha);
        if (answer.status === 200) acked++;
        return answer.status === 503 ? answer : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 10 },
    );
    expect(refused.retryAfter).toBe('1');
    const error = JSON.parse(refused.body) as { statusCode: number; message: string };
    expect(error.statusCode).toBe(503);
    expect(error.message).toContain(code);
    expect(error.message).not.toContain(dir);
    // Still failing: text reports refused (and not applied), a structured one refused too.
    expect((await text(mesha)).status).toBe(503);
    expect((await structured(mesha, 2)).status).toBe(503);
    let samples = await scrape(mesha.url);
    expect(sumSamples(samples, 'mesha_reports_total', { msg: 'disk' })).toBe(acked);
    expect(sumSamples(samples, 'mesha_state_write_failures_total', { code })).toBeGreaterThan(0);
    expect(sumSamples(samples, 'mesha_state_write_failing')).toBe(1);

    repairDisk();
    await waitFor(
      'mesha to write its state again',
      async () => (await text(mesha)).status === 200,
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    acked++;
    // The structured report refused with 503 was applied in memory: its re-send is a duplicate,
    // acknowledged now that the state holding it is on disk, and counted once.
    expect((await structured(mesha, 2)).status).toBe(200);
    samples = await scrape(mesha.url);
    expect(sumSamples(samples, 'mesha_reports_total', { msg: 'disk' })).toBe(acked);
    expect(sumSamples(samples, 'mesha_observed_requests_total')).toBe(2 * 3);
    expect(sumSamples(samples, 'mesha_state_write_failing')).toBe(0);
    // Logs are flushed in batches: wait for the recovery line, then count the failure lines.
    await waitFor('the recovery log line', () =>
      mesha.output().includes('state: the state log is written again'),
    );
    const errors = mesha.jsonLogs().filter((l) => /could not be written/.test(String(l.msg)));
    expect(errors.length).toBeGreaterThanOrEqual(1);
    expect(errors.length).toBeLessThanOrEqual(3); // rate-limited: one line per 10 s at most

    await mesha.stop('SIGKILL', 0);
    mesha = await startMesha(env);
    samples = await scrape(mesha.url);
    expect(sumSamples(samples, 'mesha_reports_total', { msg: 'disk' })).toBe(acked);
    expect(sumSamples(samples, 'mesha_observed_requests_total')).toBe(2 * 3);
    await mesha.stop('SIGKILL', 0);
  }, 120_000);
});
