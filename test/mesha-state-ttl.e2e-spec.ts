import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock, startInProcessMesha, type InProcessMesha } from './support/mesha-app';
import { sumSamples, type Sample } from './support/prometheus-text';
import { validReport } from './support/report-fixture';

const TTL_SECONDS = 60;
const REPORTER = 'a'.repeat(16);

/** Series of `name` whose labels include `labels`. */
const series = (samples: Sample[], name: string, labels: Record<string, string>) =>
  samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );

/** SERIES_TTL_SECONDS with STATE_DIR: a series the TTL removed does not come back with a restart. */
describe('mesha with STATE_DIR and SERIES_TTL_SECONDS', () => {
  let dir: string;
  let mesha: InProcessMesha | undefined;
  const clock = new ManualClock();

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'mesha-state-ttl-'));
  });
  afterEach(async () => {
    await mesha?.close();
    mesha = undefined;
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const start = async () => {
    mesha = await startInProcessMesha(
      {
        STATE_DIR: join(dir, 'state'),
        SERIES_TTL_SECONDS: String(TTL_SECONDS),
        PARAM_LABELS: 'pod',
      },
      clock,
    );
    return mesha;
  };
  const text = async (m: InProcessMesha, msg: string, pod: string) => {
    const res = await m.app.inject({
      method: 'POST',
      url: `/wasmCallback?pod=${pod}`,
      headers: { melonmsg: msg, 'content-type': 'text/plain' },
      payload: 'body',
    });
    expect(res.statusCode).toBe(200);
  };
  const structured = async (m: InProcessMesha, seq: number, route: string) => {
    const report = validReport({
      reporter: { id: REPORTER, seq },
      counts: [{ ...validReport().counts[0], route }],
    });
    const res = await m.app.inject({
      method: 'POST',
      url: '/wasmCallback',
      headers: { melonmsg: 'traffic', 'content-type': 'application/json' },
      payload: JSON.stringify(report),
    });
    expect(res.statusCode).toBe(200);
  };

  it('expired series stay gone after restarts; a series updated again starts from zero', async () => {
    let m = await start();
    await text(m, 'old', 'old-pod');
    await text(m, 'again', 'again-pod');
    await text(m, 'again', 'again-pod');
    await structured(m, 1, 'old-route');
    clock.advance((TTL_SECONDS + 1) * 1000);
    let samples = await m.metrics(); // a render sweeps the expired series
    expect(series(samples, 'mesha_reports_total', { msg: 'old' })).toHaveLength(0);
    expect(series(samples, 'mesha_observed_requests_total', { route: 'old-route' })).toHaveLength(
      0,
    );
    await text(m, 'again', 'again-pod'); // after its expiry: a new series, from zero
    await text(m, 'new', 'new-pod');
    await structured(m, 2, 'new-route');
    await m.close();

    m = await start();
    samples = await m.metrics();
    expect(series(samples, 'mesha_reports_total', { msg: 'old' })).toHaveLength(0);
    expect(
      series(samples, 'mesha_report_params_total', { key: 'pod', value: 'old-pod' }),
    ).toHaveLength(0);
    expect(series(samples, 'mesha_observed_requests_total', { route: 'old-route' })).toHaveLength(
      0,
    );
    expect(sumSamples(samples, 'mesha_reports_total', { msg: 'again' })).toBe(1);
    expect(sumSamples(samples, 'mesha_report_params_total', { value: 'again-pod' })).toBe(1);
    expect(sumSamples(samples, 'mesha_reports_total', { msg: 'new' })).toBe(1);
    expect(sumSamples(samples, 'mesha_observed_requests_total', { route: 'new-route' })).toBe(3);
    // The body-size histogram has no labels and never expires: five text and two structured reports.
    expect(sumSamples(samples, 'mesha_report_body_bytes_count')).toBe(7);
    await m.close();

    // Down for longer than the TTL: nothing left to restore was updated within it.
    clock.advance((TTL_SECONDS + 1) * 1000);
    m = await start();
    samples = await m.metrics();
    expect(series(samples, 'mesha_reports_total', {})).toHaveLength(0);
    expect(series(samples, 'mesha_observed_requests_total', {})).toHaveLength(0);
  }, 60_000);

  it('a series restored within its TTL is served, and expires a TTL after the restart', async () => {
    let m = await start();
    await text(m, 'kept', 'kept-pod');
    clock.advance((TTL_SECONDS / 2) * 1000);
    await m.close();
    m = await start();
    expect(sumSamples(await m.metrics(), 'mesha_reports_total', { msg: 'kept' })).toBe(1);
    clock.advance((TTL_SECONDS + 1) * 1000);
    expect(series(await m.metrics(), 'mesha_reports_total', { msg: 'kept' })).toHaveLength(0);
    await m.close();
    m = await start();
    expect(series(await m.metrics(), 'mesha_reports_total', { msg: 'kept' })).toHaveLength(0);
  }, 60_000);
});
