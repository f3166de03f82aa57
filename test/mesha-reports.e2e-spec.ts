import { sumSamples } from './support/prometheus-text';
import { startInProcessMesha, type InProcessMesha } from './support/mesha-app';
import { validReport } from './support/report-fixture';
import type { ReportV1 } from '../src/reports/report.types';

const OBSERVED = { source_workload: 'shop', source_namespace: 'default', route: 'api' };

describe('mesha structured reports (Content-Type: application/json)', () => {
  let mesha: InProcessMesha;
  beforeAll(async () => {
    mesha = await startInProcessMesha();
  });
  afterAll(() => mesha.close());

  const post = (body: unknown, contentType = 'application/json', headers = {}) =>
    fetch(`${mesha.url}/wasmCallback`, {
      method: 'POST',
      headers: {
        'content-type': contentType,
        melonMsg: 'my header from wasm envoy reporter',
        'x-mesha-reporter': '0123456789abcdef',
        ...headers,
      },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });

  const observed = async () =>
    sumSamples(await mesha.metrics(), 'mesha_observed_requests_total', OBSERVED);
  const rejected = async () =>
    sumSamples(await mesha.metrics(), 'mesha_rejected_reports_total', { reason: 'invalid_report' });

  it('counts a valid report once; the re-send gets 200 and is not counted again', async () => {
    const report = validReport({ reporter: { id: '1111111111111111', seq: 7 } });
    const first = await post(report);
    expect([first.status, await first.text()]).toEqual([
      200,
      'receive wasm callback request status ok',
    ]);
    expect(await observed()).toBe(3);

    const again = await post(report, 'application/json; charset=utf-8');
    expect(again.status).toBe(200);
    await again.text();
    const samples = await mesha.metrics();
    expect(sumSamples(samples, 'mesha_observed_requests_total', OBSERVED)).toBe(3);
    expect(sumSamples(samples, 'mesha_duplicate_reports_total')).toBe(1);
    expect(sumSamples(samples, 'mesha_reports_total')).toBe(1);
    expect(sumSamples(samples, 'mesha_reporters')).toBe(1);
    expect(sumSamples(samples, 'mesha_observed_request_duration_seconds_count', OBSERVED)).toBe(3);

    const lines = mesha.logs.filter((l) => l.event === 'report');
    expect(lines.map((l) => l.report)).toEqual([
      expect.objectContaining({
        reporterId: '1111111111111111',
        seq: 7,
        counts: 1,
        requests: 3,
        duplicate: false,
      }),
      expect.objectContaining({ seq: 7, duplicate: true }),
    ]);
    expect(lines[0]).not.toHaveProperty('body');
  });

  it('counts concurrent re-sends of the same report exactly once', async () => {
    const before = await observed();
    const report = validReport({ reporter: { id: '2222222222222222', seq: 1 } });
    const statuses = await Promise.all(
      Array.from({ length: 20 }, () => post(report).then((r) => r.status)),
    );
    expect(new Set(statuses)).toEqual(new Set([200]));
    expect((await observed()) - before).toBe(3);
  });

  type Mutate = (r: ReportV1 & Record<string, unknown>) => void;
  it.each<[string, Mutate, RegExp]>([
    ['reporter.id', (r) => (r.reporter.id = 'not-hex'), /\/reporter\/id: must match pattern/],
    ['reporter.seq', (r) => (r.reporter.seq = -3), /\/reporter\/seq: must be >= 1/],
    [
      'source.namespace',
      (r) => delete (r.source as Partial<ReportV1['source']>).namespace,
      /\/source: must have required property 'namespace'/,
    ],
    [
      'window',
      (r) => (r.window.end_ms = r.window.start_ms - 1),
      /\/window\/end_ms: must not be before/,
    ],
    ['buckets_ms', (r) => (r.buckets_ms = [1]), /\/buckets_ms: must be equal to constant/],
    [
      'counts[0].code',
      (r) => ((r.counts[0] as unknown as Record<string, unknown>).code = 200),
      /\/counts\/0\/code: must be equal to one of the allowed values/,
    ],
    [
      'counts[0].n vs buckets',
      (r) => (r.counts[0].n = 5),
      /\/counts\/0\/duration_buckets: must add up to n \(5\)/,
    ],
    [
      'counts[0].bytes_in',
      (r) => (r.counts[0].bytes_in = 1.5),
      /\/counts\/0\/bytes_in: must be integer/,
    ],
    [
      'an extra field',
      (r) => (r.debug = true),
      /\(root\): must NOT have additional properties 'debug'/,
    ],
    [
      '__proto__ key',
      (r) => Object.defineProperty(r, '__proto__', { value: { polluted: 1 }, enumerable: true }),
      /additional properties '__proto__'/,
    ],
  ])(
    'refuses a bad %s with a 400 naming the field, counting nothing',
    async (_field, mutate, message) => {
      const before = { observed: await observed(), rejected: await rejected() };
      const prototypeKeys = Reflect.ownKeys(Object.prototype);
      const report = validReport({ reporter: { id: '3333333333333333', seq: 1 } }) as ReportV1 &
        Record<string, unknown>;
      mutate(report);
      const res = await post(report);
      const body = (await res.json()) as { statusCode: number; error: string; message: string };
      expect(res.status).toBe(400);
      expect(body.statusCode).toBe(400);
      expect(body.error).toBe('Bad Request');
      expect(body.message).toMatch(message);
      expect(await observed()).toBe(before.observed);
      expect(await rejected()).toBe(before.rejected + 1);
      // The server runs in this process: a polluted prototype would show up here.
      expect(Reflect.ownKeys(Object.prototype)).toEqual(prototypeKeys);
    },
  );

  it.each([
    ['truncated JSON', '{"v":1,"reporter":'],
    ['not JSON at all', "i'm wasm from wasm filter !!!"],
    ['empty body', ''],
    ['JSON null', 'null'],
  ])('refuses %s with a 400', async (_name, body) => {
    const before = await rejected();
    const res = await post(body);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { message: string }).message).toMatch(/JSON|report/);
    expect(await rejected()).toBe(before + 1);
  });

  it('still requires melonMsg on structured reports', async () => {
    const res = await fetch(`${mesha.url}/wasmCallback`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(validReport({ reporter: { id: '4444444444444444', seq: 1 } })),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { message: string }).message).toMatch(/melonMsg/);
  });

  it('treats other content types as seed text, whatever the body', async () => {
    const before = await observed();
    const res = await post(
      validReport({ reporter: { id: '5555555555555555', seq: 1 } }),
      'text/plain',
    );
    expect(res.status).toBe(200);
    expect(await observed()).toBe(before);
  });
});
