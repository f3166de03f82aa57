import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { startProcess, stopAllProcesses } from './support/child-process';
import { REPO_ROOT, startMesha, type MeshaProcess } from './support/mesha';
import { scrape, sumSamples } from './support/prometheus-text';
import { waitFor } from './support/wait-for';

const MAIN = resolve(REPO_ROOT, 'dist', 'main.js');
const SEED_BODY = "i'm wasm from wasm filter !!!";

afterAll(() => stopAllProcesses());

function promtoolCheckMetrics(text: string): Promise<{ code: number | null; output: string }> {
  return new Promise((done) => {
    const proc = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    proc.stdout.on('data', (c: Buffer) => (output += c.toString()));
    proc.stderr.on('data', (c: Buffer) => (output += c.toString()));
    proc.on('close', (code) => done({ code, output }));
    proc.stdin.end(text);
  });
}

describe('mesha as a process (dist/main.js)', () => {
  it.each([
    [{ PORT: 'seventy' }, 'PORT'],
    [{ MAX_SERIES: '-1' }, 'MAX_SERIES'],
    [{ LOG_FORMAT: 'xml' }, 'LOG_FORMAT'],
  ])('exits non-zero on a bad setting %p, naming the variable', async (env, variable) => {
    const proc = startProcess(process.execPath, [MAIN], {
      cwd: REPO_ROOT,
      env: { ...process.env, HOST: '127.0.0.1', ...env },
    });
    const { code } = await proc.exited;
    expect(code).toBe(1);
    expect(proc.output()).toContain(`${variable}: `);
  });

  it.each([
    [{ PORT: '0x4694' }, /PORT: must be a whole number written in decimal digits/],
    [{ HOST: 'not a host' }, /HOST: must be an IP address or a DNS name/],
    [{ AUTH_TOKEN: 'a-long-enough-secret-token\n' }, /AUTH_TOKEN: must be printable ASCII/],
    [
      { HOST: 'no-such-host.invalid' },
      /cannot listen on HOST=no-such-host\.invalid PORT=\d+: ENOTFOUND/,
    ],
  ])(
    'refuses %p at start-up with one line naming the setting, no stack, no secret',
    async (env, message) => {
      const proc = startProcess(process.execPath, [MAIN], {
        cwd: REPO_ROOT,
        env: { ...process.env, HOST: '127.0.0.1', PORT: '0', ...env },
      });
      const { code } = await proc.exited;
      await proc.closed;
      expect(code).toBe(1);
      expect(proc.output()).toMatch(message);
      expect(proc.output()).not.toMatch(/^\s+at /m);
      expect(proc.output()).not.toContain('a-long-enough-secret-token');
    },
  );

  describe('serving', () => {
    let mesha: MeshaProcess;
    beforeAll(async () => {
      mesha = await startMesha({ PARAM_LABELS: 'app' });
    });
    afterAll(() => mesha.stop());

    it('logs the seed report as one JSON line on stdout', async () => {
      const res = await fetch(`${mesha.url}/wasmCallback?app=shop&__proto__=x`, {
        method: 'POST',
        headers: { melonMsg: 'my header from wasm envoy reporter', accept: '*/*' },
        body: SEED_BODY,
      });
      expect(await res.text()).toBe('receive wasm callback request status ok');
      const line = await waitFor('the report log line', () =>
        mesha.jsonLogs().find((l) => l.event === 'report'),
      );
      expect(line).toMatchObject({
        level: 'info',
        melonMsg: 'my header from wasm envoy reporter',
        body: SEED_BODY,
        bodyBytes: 29,
        remoteAddress: '127.0.0.1',
      });
      expect(Object.keys(line.params as object)).toEqual(['app', '__proto__']);
    });

    it('passes promtool check metrics (Prometheus text)', async () => {
      await fetch(`${mesha.url}/wasmCallback?app=a`, {
        method: 'POST',
        headers: { melonMsg: 'promtool' },
        body: 'x',
      });
      await fetch(`${mesha.url}/wasmCallback`, { method: 'POST', body: 'no header' });
      const text = await (await fetch(`${mesha.url}/metrics`)).text();
      expect(text).toContain('mesha_reports_total{msg="promtool"} 1');
      expect(text).toContain('mesha_report_params_total{key="app",value="a"} 1');
      expect(text).toContain('mesha_rejected_reports_total{reason="missing_header"} 1');
      const { code, output } = await promtoolCheckMetrics(text);
      expect({ code, output }).toEqual({ code: 0, output: '' });
    });
  });

  it('drains on SIGTERM under load: readiness 503 at once, every 200 counted and logged, exit 0', async () => {
    // The delay only has to outlast the few steps between readiness 503 and the scrape below
    // (stop the load, let the workers finish, scrape); it is many times that.
    const mesha = await startMesha({ SHUTDOWN_DELAY_MS: '5000', SHUTDOWN_GRACE_MS: '15000' });
    const statuses: number[] = [];
    let stop = false;
    const worker = async () => {
      while (!stop) {
        try {
          const res = await fetch(`${mesha.url}/wasmCallback?n=${statuses.length}`, {
            method: 'POST',
            headers: { melonMsg: 'load' },
            body: SEED_BODY,
          });
          await res.text();
          statuses.push(res.status);
          if (res.status !== 200) return;
        } catch {
          return; // the listener is closed: this worker is done
        }
      }
    };
    const workers = Array.from({ length: 16 }, () => worker());
    await waitFor('some load', () => statuses.length >= 200, { timeoutMs: 30_000 });

    mesha.proc.kill('SIGTERM');
    await waitFor('readiness 503', async () => (await fetch(`${mesha.url}/readyz`)).status === 503);
    // Reports are still accepted during SHUTDOWN_DELAY_MS: stop the load and count while it lasts.
    stop = true;
    await Promise.all(workers);
    const ok = statuses.filter((s) => s === 200).length;
    const counted = sumSamples(await scrape(mesha.url), 'mesha_reports_total', { msg: 'load' });
    expect(counted).toBe(ok);

    // Then the listener closes and the process exits.
    const result = await mesha.exited;
    expect(result).toEqual({ code: 0, signal: null });
    expect(ok).toBeGreaterThanOrEqual(200);
    expect(statuses.filter((s) => s !== 200 && s !== 503)).toEqual([]);
    await waitFor('stdout to end', () => mesha.proc.stdout?.readableEnded === true);
    const logged = mesha.jsonLogs().filter((l) => l.event === 'report' && l.melonMsg === 'load');
    expect(logged).toHaveLength(ok);
    expect(mesha.jsonLogs().some((l) => /shutdown complete/.test(String(l.msg)))).toBe(true);
  });
});
