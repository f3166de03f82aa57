import { BUCKET_BOUNDS_MS } from '../src/reports/report-validator';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  startProcess,
  stopAllProcesses,
  waitForHttpOk,
  type RunningProcess,
} from './support/child-process';
import { startMesha, type MeshaProcess } from './support/mesha';
import { freePort } from './support/ports';
import { scrape, sumSamples, type Sample } from './support/prometheus-text';
import { validReport } from './support/report-fixture';
import { waitFor } from './support/wait-for';

interface Vector {
  metric: Record<string, string>;
  value: [number, string];
}
interface Matrix {
  metric: Record<string, string>;
  values: Array<[number, string]>;
}

/** The families whose values only change when reports arrive (not when /metrics is read). */
const REPORT_FAMILIES =
  /^mesha_(reports_total|report_params_total|report_body_bytes_(bucket|sum|count)|rejected_reports_total|duplicate_reports_total|observed_.*)$/;

const keyOf = (name: string, labels: Record<string, string>): string =>
  `${name}{${Object.keys(labels)
    .filter((k) => k !== '__name__' && labels[k] !== '')
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`)
    .join(',')}}`;

/**
 * mesha pushing to a real receiver: Debian's Prometheus with --web.enable-remote-write-receiver,
 * which scrapes nothing, so everything it holds came through remote write.
 */
describe('remote write to a real Prometheus', () => {
  let prometheus: RunningProcess | undefined;
  let promPort: number;
  let promUrl: string;
  let dir: string;
  let config: string;
  let mesha: MeshaProcess;

  function startPrometheus(): Promise<void> {
    prometheus = startProcess('prometheus', [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${promPort}`,
      '--web.enable-remote-write-receiver',
    ]);
    return waitForHttpOk(prometheus, `${promUrl}/-/ready`, 60_000);
  }

  async function query<T = Vector>(expr: string): Promise<T[]> {
    const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = (await res.json()) as { status: string; data: { result: T[] } };
    if (body.status !== 'success') throw new Error(`query ${expr} failed: ${JSON.stringify(body)}`);
    return body.data.result;
  }

  const send = (msg: string, body = 'x', path = '/wasmCallback?app=shop') =>
    fetch(`${mesha.url}${path}`, { method: 'POST', headers: { melonMsg: msg }, body }).then(
      (r) => r.status,
    );
  const sendReport = (seq: number, n = 3) =>
    fetch(`${mesha.url}/wasmCallback`, {
      method: 'POST',
      headers: { melonMsg: 'traffic', 'Content-Type': 'application/json' },
      body: JSON.stringify(
        validReport({
          reporter: { id: 'feedfacecafe0012', seq },
          counts: [
            {
              ...validReport().counts[0],
              n,
              duration_buckets: [n, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
              duration_sum_ms: n * BUCKET_BOUNDS_MS[0], // consistent with the first bucket
            },
          ],
        }),
      ),
    }).then((r) => r.status);

  const selfMetric = async (name: string, labels: Record<string, string> = {}) =>
    sumSamples(await scrape(mesha.url), name, labels);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mesha-rw-'));
    promPort = await freePort();
    promUrl = `http://127.0.0.1:${promPort}`;
    config = join(dir, 'prometheus.yml');
    writeFileSync(config, 'global:\n  evaluation_interval: 1s\n');
    await startPrometheus();
    mesha = await startMesha({
      PARAM_LABELS: 'app',
      REMOTE_WRITE_URL: `${promUrl}/api/v1/write`,
      REMOTE_WRITE_INTERVAL_SECONDS: '1',
      REMOTE_WRITE_MAX_BACKOFF_MS: '500',
      // One batch per snapshot, so each snapshot shows as one step of the queue gauge.
      REMOTE_WRITE_BATCH_SAMPLES: '50000',
      REMOTE_WRITE_REPLICA: 'rw-e2e-0',
    });
  });

  afterAll(async () => {
    await mesha?.stop();
    await prometheus?.stop();
    await stopAllProcesses();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('Prometheus serves exactly the values of mesha /metrics, labelled with the replica', async () => {
    const statuses = await Promise.all([
      ...Array.from({ length: 7 }, () => send('rw-e2e')),
      ...Array.from({ length: 3 }, () => send('other', 'longer body', '/wasmCallback')),
      sendReport(1, 3),
      sendReport(2, 5),
      sendReport(2, 5), // re-sent: not counted again
      fetch(`${mesha.url}/wasmCallback`, { method: 'POST', body: 'no header' }).then(
        (r) => r.status,
      ),
    ]);
    expect(statuses.filter((s) => s === 200)).toHaveLength(13);

    const expected = new Map(
      (await scrape(mesha.url))
        .filter((s: Sample) => REPORT_FAMILIES.test(s.name))
        .map((s) => [keyOf(s.name, s.labels), s.value]),
    );
    expect(expected.get('mesha_reports_total{msg="rw-e2e"}')).toBe(7);
    expect(expected.get('mesha_duplicate_reports_total{}')).toBe(1);
    expect(expected.size).toBeGreaterThan(20);

    let got = new Map<string, number>();
    await waitFor(
      'the receiver to hold every report series with mesha’s values',
      async () => {
        const result = await query(`{__name__=~"mesha_.+", instance="rw-e2e-0", job="mesha"}`);
        got = new Map(
          result
            .filter((r) => REPORT_FAMILIES.test(r.metric.__name__))
            .map((r) => {
              const labels = { ...r.metric };
              delete labels.instance;
              delete labels.job;
              return [keyOf(r.metric.__name__, labels), Number(r.value[1])];
            }),
        );
        return got.size === expected.size && [...expected].every(([k, v]) => got.get(k) === v);
      },
      { timeoutMs: 30_000, intervalMs: 250 },
    ).catch((err: Error) => {
      throw new Error(
        `${err.message}\nexpected ${JSON.stringify([...expected])}\ngot ${JSON.stringify([...got])}`,
      );
    });
    expect(got).toEqual(expected);
    expect(await selfMetric('mesha_remote_write_samples_sent_total')).toBeGreaterThan(0);
    expect(await selfMetric('mesha_remote_write_samples_failed_total')).toBe(0);
    expect(await selfMetric('mesha_remote_write_last_success_timestamp_seconds')).toBeGreaterThan(
      Date.now() / 1000 - 60,
    );
  });

  it('receiver down, then up: every snapshot taken meanwhile arrives (within the queue bound)', async () => {
    await prometheus?.stop();
    const values: number[] = [];
    for (let i = 1; i <= 4; i++) {
      expect(await send('outage')).toBe(200);
      values.push(i);
      // Two more snapshots queued: at least one was taken wholly after this report.
      let steps = 0;
      let last = await selfMetric('mesha_remote_write_queue_samples');
      await waitFor(
        'two snapshots to be queued',
        async () => {
          const now = await selfMetric('mesha_remote_write_queue_samples');
          if (now > last) steps++;
          last = now;
          return steps >= 2;
        },
        { timeoutMs: 30_000, intervalMs: 100 },
      );
    }
    expect(
      await selfMetric('mesha_remote_write_requests_total', { status_code: 'error' }),
    ).toBeGreaterThan(0);

    await startPrometheus();
    await waitFor(
      'the queue to drain',
      async () => (await selfMetric('mesha_remote_write_queue_samples')) === 0,
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    const series = await query<Matrix>(
      'mesha_reports_total{msg="outage", instance="rw-e2e-0"}[10m]',
    );
    expect(series).toHaveLength(1);
    const seen = new Set(series[0].values.map(([, v]) => Number(v)));
    expect([...seen].sort((a, b) => a - b)).toEqual(values);
    expect(await selfMetric('mesha_remote_write_samples_dropped_total')).toBe(0);
    expect(await selfMetric('mesha_remote_write_samples_failed_total')).toBe(0);
    expect(await selfMetric('mesha_remote_write_samples_retried_total')).toBeGreaterThan(0);
  }, 180_000);

  it('on SIGTERM, a final flush sends the reports acknowledged since the last snapshot', async () => {
    const last = await startMesha({
      REMOTE_WRITE_URL: `${promUrl}/api/v1/write`,
      REMOTE_WRITE_INTERVAL_SECONDS: '3600', // no periodic snapshot during the test
      REMOTE_WRITE_REPLICA: 'rw-e2e-flush',
    });
    try {
      const acked = await Promise.all(
        Array.from({ length: 5 }, () =>
          fetch(`${last.url}/wasmCallback`, {
            method: 'POST',
            headers: { melonMsg: 'flushed' },
            body: 'x',
          }),
        ),
      );
      expect(acked.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
      expect(await query('mesha_reports_total{instance="rw-e2e-flush"}')).toEqual([]);
      expect(await last.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    } finally {
      await last.stop('SIGKILL', 0);
    }
    const result = await query('mesha_reports_total{instance="rw-e2e-flush", msg="flushed"}');
    expect(result.map((r) => Number(r.value[1]))).toEqual([5]);
    expect(last.output()).toContain('remote write: final flush done');
  });
});
