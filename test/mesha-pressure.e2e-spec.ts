import type { Socket } from 'node:net';
import { stopAllProcesses } from './support/child-process';
import { manifestLimits } from './support/manifest-limits';
import { startMesha, type MeshaProcess } from './support/mesha';
import { parsePrometheusText, scrape, sumSamples } from './support/prometheus-text';
import { inParallel, longValue, pipelineUnread, rssBytes, wideReport } from './support/pressure';
import { waitFor } from './support/wait-for';

afterAll(() => stopAllProcesses());

const LIMITS = manifestLimits();

/**
 * The shipped manifests' settings (MAX_SERIES 10000, the container memory limit as
 * MEMORY_LIMIT_BYTES, the same heap limit, no token), then an attacker: every capped metric filled
 * with the longest label values allowed, then concurrent and pipelined scrapes.
 */
describe('mesha under pressure, with the manifests memory settings', () => {
  let mesha: MeshaProcess;
  const sockets: Socket[] = [];
  beforeAll(async () => {
    mesha = await startMesha({
      MAX_SERIES: '10000',
      MEMORY_LIMIT_BYTES: String(LIMITS.limitBytes),
      NODE_OPTIONS: `--max-old-space-size=${LIMITS.heapMiB}`,
      LOG_LEVEL: 'warn',
    });
  }, 60_000);
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await mesha.stop();
  });

  const post = (headers: Record<string, string>, body: string) =>
    fetch(`${mesha.url}/wasmCallback`, {
      method: 'POST',
      headers: { melonMsg: 'x', ...headers },
      body,
    }).then(async (res) => {
      await res.arrayBuffer();
      return res.status;
    });

  it('fills every capped metric: new label sets past the budget go to __overflow__, counted', async () => {
    const statuses = new Map<number, number>();
    const count = (status: number): void => {
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
    };
    // 16 wide reports from 16 workloads: 16k label sets offered to each observed-traffic family.
    await inParallel(16, 4, async (i) =>
      count(
        await post(
          { 'content-type': 'application/json' },
          JSON.stringify(
            wideReport(`workload-${i}`, 1, (0x1000000 + i).toString(16).padStart(16, '0')),
          ),
        ),
      ),
    );
    // 12k seed-style reports, each with its own 128-character melonMsg.
    await inParallel(12_000, 32, async (i) =>
      count(await post({ melonMsg: longValue(`msg-${i}`, 128) }, 'x')),
    );
    expect(Object.fromEntries(statuses)).toEqual({ 200: 12_016 });

    const samples = await scrape(mesha.url);
    const budget = sumSamples(samples, 'mesha_memory_budget_bytes');
    expect(budget).toBeGreaterThan(0);
    expect(budget).toBeLessThan(LIMITS.limitBytes);
    // The seed's counter keeps its floor of the budget although the wide reports came first and
    // took the shared pool; every long melonMsg past it was counted as dropped (the series are the
    // wide reports' `x`, the admitted long ones, and the overflow series).
    // The floor is a quarter of the budget split among all capped metrics, so it shrinks as families
    // are added (about 900 long label sets with the 16 of today): hundreds, and all of what it can hold.
    const reportSeries = sumSamples(samples, 'mesha_series', { metric: 'mesha_reports_total' });
    expect(reportSeries).toBeGreaterThan(500);
    expect(reportSeries).toBeLessThanOrEqual(
      sumSamples(samples, 'mesha_series_limit', { metric: 'mesha_reports_total' }) + 1,
    );
    expect(
      sumSamples(samples, 'mesha_series_dropped_total', { metric: 'mesha_reports_total' }),
    ).toBe(12_000 - (reportSeries - 2));
    // The wide histogram: the memory budget is reached long before MAX_SERIES.
    const metric = 'mesha_observed_request_duration_seconds';
    const limit = sumSamples(samples, 'mesha_series_limit', { metric });
    expect(limit).toBeLessThan(10_000);
    expect(sumSamples(samples, 'mesha_series', { metric })).toBeLessThanOrEqual(limit + 1);
    expect(sumSamples(samples, 'mesha_series_dropped_total', { metric })).toBeGreaterThan(
      16 * 1024 - limit - 1,
    );
    expect(
      sumSamples(samples, 'mesha_observed_requests_total', {
        source_workload: '__overflow__',
      }),
    ).toBeGreaterThan(0);
  }, 180_000);

  it('renders the full budget in a body no larger than the budget', async () => {
    const res = await fetch(`${mesha.url}/metrics`);
    const body = Buffer.from(await res.arrayBuffer());
    const samples = parsePrometheusText(body.toString('utf8'));
    expect(body.length).toBeLessThanOrEqual(sumSamples(samples, 'mesha_memory_budget_bytes'));
    expect(Number(res.headers.get('content-length'))).toBe(body.length);
  }, 60_000);

  it('serves 10 concurrent scrapes from one render, and answers /healthz while it renders', async () => {
    const started = Date.now();
    const before = sumSamples(await scrape(mesha.url), 'mesha_metrics_render_seconds_count');
    // Past the coalescing pause (METRICS_COALESCE_MS, or as long as the last render took), the next
    // scrape starts a render at once.
    const pauseEnds = Date.now() + Math.max(100, Date.now() - started) + 100;
    await waitFor('the coalescing pause to end', () => Date.now() >= pauseEnds);

    let headersIn = 0;
    const scrapes = Array.from({ length: 10 }, () =>
      fetch(`${mesha.url}/metrics`).then((res) => {
        headersIn++;
        return res.arrayBuffer();
      }),
    );
    // Probes one after another until the scrapes' answers start: each one answered before that was
    // answered while the render ran, between two of its slices (rendered in one go, at most the
    // probes that came before the render started would be).
    const probeStatuses: number[] = [];
    while (headersIn === 0) {
      const res = await fetch(`${mesha.url}/healthz`);
      await res.text();
      if (headersIn === 0) probeStatuses.push(res.status);
    }
    await Promise.all(scrapes);
    expect(probeStatuses.length).toBeGreaterThanOrEqual(5);
    expect(new Set(probeStatuses)).toEqual(new Set([200]));
    const after = sumSamples(await scrape(mesha.url), 'mesha_metrics_render_seconds_count');
    // One render for the ten (two if some arrived after it ended), one for the scrape above.
    expect(after - before).toBeLessThanOrEqual(3);
  }, 60_000);

  it('stays under its memory limit with 40 pipelined scrapes never read, on 5 connections', async () => {
    for (let i = 0; i < 5; i++) sockets.push(await pipelineUnread(mesha.port, '/metrics', 40));
    // Every one of those 200 scrapes has been answered (into the socket buffers) once a scrape on
    // another connection, which queues behind them, comes back.
    const samples = await scrape(mesha.url);
    expect(sumSamples(samples, 'mesha_metrics_render_bytes')).toBeGreaterThan(0);
    expect((await fetch(`${mesha.url}/healthz`)).status).toBe(200);
    expect(mesha.proc.exitCode).toBeNull();
    expect(rssBytes(mesha.proc.pid ?? 0)).toBeLessThan(LIMITS.limitBytes);
  }, 60_000);
});
