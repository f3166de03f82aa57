import type { ReportV1 } from '../src/reports/report.types';
import { startInProcessMesha, type InProcessMesha } from './support/mesha-app';
import { sumSamples } from './support/prometheus-text';
import { validReport } from './support/report-fixture';

const VICTIM = 'aaaaaaaaaaaaaaaa';

describe('mesha against hostile reporters', () => {
  let mesha: InProcessMesha;
  beforeAll(async () => {
    mesha = await startInProcessMesha({
      SEQ_MAX_GAP: '1000',
      MAX_SERIES: '100',
      SERIES_SOURCE_SHARE: '0.25',
    });
  });
  afterAll(() => mesha.close());

  const post = async (body: unknown, contentType = 'application/json') => {
    const res = await fetch(`${mesha.url}/wasmCallback`, {
      method: 'POST',
      headers: { 'content-type': contentType, melonMsg: 'm' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, text };
  };
  const observed = async (labels: Record<string, string>) =>
    sumSamples(await mesha.metrics(), 'mesha_observed_requests_total', labels);
  const rejected = async (reason: string) =>
    sumSamples(await mesha.metrics(), 'mesha_rejected_reports_total', { reason });

  it("refuses a seq far ahead of a known reporter's: the reporter's later reports still count", async () => {
    const victim = (seq: number) =>
      validReport({
        reporter: { id: VICTIM, seq },
        source: { workload: 'victim', namespace: 'default', pod: 'victim-1' },
      });
    for (const seq of [1, 2, 3]) expect((await post(victim(seq))).status).toBe(200);
    const forged = await post(victim(2 ** 53 - 1));
    expect(forged.status).toBe(400);
    expect(JSON.parse(forged.text)).toMatchObject({
      statusCode: 400,
      message: expect.stringContaining(
        '/reporter/seq: 9007199254740991 is more than SEQ_MAX_GAP (1000) ahead of the highest seq received from this reporter (3)',
      ),
    });
    expect(await rejected('seq_gap')).toBe(1);
    // The victim's next report is new, not a "duplicate".
    expect((await post(victim(4))).status).toBe(200);
    expect(await observed({ source_workload: 'victim' })).toBe(4 * 3);
    expect(sumSamples(await mesha.metrics(), 'mesha_duplicate_reports_total')).toBe(0);
  });

  it.each<[string, (r: ReportV1) => void, string]>([
    ['n of 2^32', (r) => (r.counts[0].n = 2 ** 32), '/counts/0/n'],
    ['bytes over 2^48', (r) => (r.counts[0].bytes_out = 2 ** 49), '/counts/0/bytes_out'],
    [
      'a sum of 1e300 ms',
      (r) => (r.counts[0].duration_sum_ms = 1e300),
      '/counts/0/duration_sum_ms',
    ],
    [
      'a sum the buckets cannot hold',
      (r) => (r.counts[0].duration_sum_ms = 10 ** 9),
      '/counts/0/duration_sum_ms',
    ],
  ])('refuses %s with a 400 naming the field, applying nothing', async (_what, mutate, field) => {
    const report = validReport({
      reporter: { id: 'bbbbbbbbbbbbbbbb', seq: 1 },
      source: { workload: 'bounds', namespace: 'default', pod: 'bounds-1' },
    });
    // A second, valid count: a refused report must not be half applied.
    report.counts.push({ ...report.counts[0], route: 'other' });
    mutate(report);
    const res = await post(report);
    expect(res.status).toBe(400);
    expect(JSON.parse(res.text).message).toContain(`${field}:`);
    expect(await observed({ source_workload: 'bounds' })).toBe(0);
  });

  it('gives one workload at most SERIES_SOURCE_SHARE of a metric; another still gets its series', async () => {
    const counts = (n: number) =>
      Array.from({ length: n }, (_, i) => ({ ...validReport().counts[0], route: `r${i}` }));
    const greedy = validReport({
      reporter: { id: 'cccccccccccccccc', seq: 1 },
      source: { workload: 'greedy', namespace: 'default', pod: 'greedy-1' },
      counts: counts(60),
    });
    expect((await post(greedy)).status).toBe(200);
    const samples = await mesha.metrics();
    const own = samples.filter(
      (s) => s.name === 'mesha_observed_requests_total' && s.labels.source_workload === 'greedy',
    );
    expect(own).toHaveLength(25); // 0.25 of MAX_SERIES 100
    expect(
      sumSamples(samples, 'mesha_observed_requests_total', { source_workload: '__overflow__' }),
    ).toBe(35 * 3);

    const modest = validReport({
      reporter: { id: 'dddddddddddddddd', seq: 1 },
      source: { workload: 'modest', namespace: 'default', pod: 'modest-1' },
      counts: counts(10),
    });
    expect((await post(modest)).status).toBe(200);
    const after = await mesha.metrics();
    expect(
      after.filter(
        (s) => s.name === 'mesha_observed_requests_total' && s.labels.source_workload === 'modest',
      ),
    ).toHaveLength(10);
  });

  it('honours the JSON charset: UTF-8 is read, another charset gets 415, counted', async () => {
    const report = validReport({ reporter: { id: 'eeeeeeeeeeeeeeee', seq: 1 } });
    expect((await post(report, 'application/json; charset="UTF-8"')).status).toBe(200);
    const latin1 = await post(
      validReport({ reporter: { id: 'eeeeeeeeeeeeeeee', seq: 2 } }),
      'application/json; charset=iso-8859-1',
    );
    expect(latin1.status).toBe(415);
    expect(JSON.parse(latin1.text)).toMatchObject({
      statusCode: 415,
      error: 'Unsupported Media Type',
      message: expect.stringContaining('charset "iso-8859-1"'),
    });
    expect(await rejected('unsupported_media_type')).toBe(1);
  });
});
