import { Counter, Histogram, Registry } from 'prom-client';
import { backoffMs, judge, MAX_RETRY_AFTER_MS, parseRetryAfter } from './retry-policy';
import { snapshotSeries } from './snapshot';
import { decodeWriteRequest, encodeWriteRequest } from './write-request';

describe('snapshotSeries', () => {
  it('turns the registry into sorted label sets, histograms as _bucket/_sum/_count, extra labels added', async () => {
    const registry = new Registry();
    const counter = new Counter({
      name: 'x_total',
      help: 'x',
      labelNames: ['zone', 'instance', 'empty'],
      registers: [registry],
    });
    counter.inc({ zone: 'b', instance: 'own', empty: '' }, 3);
    const histogram = new Histogram({
      name: 'd_seconds',
      help: 'd',
      buckets: [0.1, 1],
      registers: [registry],
    });
    histogram.observe(0.5);
    histogram.observe(2);

    const samples = await snapshotSeries(registry, [
      { name: 'job', value: 'mesha' },
      { name: 'instance', value: 'replica-0' },
    ]);
    const shown = samples.map(({ labels, value }) => [
      labels.map(({ name, value: v }) => `${name}=${v}`).join(','),
      value,
    ]);
    expect(shown).toEqual([
      // The series' own `instance` wins over the extra one, as with Prometheus' external labels;
      // the empty label is left out.
      ['__name__=x_total,instance=own,job=mesha,zone=b', 3],
      ['__name__=d_seconds_bucket,instance=replica-0,job=mesha,le=0.1', 0],
      ['__name__=d_seconds_bucket,instance=replica-0,job=mesha,le=1', 1],
      ['__name__=d_seconds_bucket,instance=replica-0,job=mesha,le=+Inf', 2],
      ['__name__=d_seconds_sum,instance=replica-0,job=mesha', 2.5],
      ['__name__=d_seconds_count,instance=replica-0,job=mesha', 2],
    ]);
  });

  it('round-trips through the remote-write encoding', async () => {
    const labels = [
      { name: '__name__', value: 'y' },
      { name: 'a', value: 'ü "quoted"' },
    ];
    const body = await encodeWriteRequest([{ labels, value: 0.25 }], 1_800_000_000_123);
    expect(decodeWriteRequest(body)).toEqual([
      { labels, samples: [{ value: 0.25, timestamp: 1_800_000_000_123 }] },
    ]);
  });
});

describe('retry policy', () => {
  const now = Date.parse('2026-12-01T12:00:00Z');
  const response = (status: number, headers: Record<string, string> = {}) =>
    ({ kind: 'response', status, headers, body: '' }) as const;

  it.each([
    [200, 'done'],
    [204, 'done'],
    [429, 'retry'],
    [500, 'retry'],
    [503, 'retry'],
    [400, 'drop'],
    [401, 'drop'],
    [404, 'drop'],
    [413, 'drop'],
  ])('HTTP %i -> %s', (status, action) => {
    expect(judge(response(status), now).action).toBe(action);
  });

  it('retries when there was no answer', () => {
    expect(judge({ kind: 'error', message: 'ECONNREFUSED' }, now)).toEqual({
      action: 'retry',
      reason: 'ECONNREFUSED',
    });
  });

  it('reads Retry-After as seconds or an HTTP-date, bounded, and ignores garbage', () => {
    expect(parseRetryAfter('3', now)).toBe(3_000);
    expect(parseRetryAfter('Tue, 01 Dec 2026 12:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Tue, 01 Dec 2026 11:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('99999999', now)).toBe(MAX_RETRY_AFTER_MS);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
    expect(judge(response(503, { 'retry-after': '2' }), now)).toMatchObject({
      retryAfterMs: 2_000,
    });
  });

  it('doubles the backoff per failure up to the maximum', () => {
    expect([1, 2, 3, 4, 5, 60].map((n) => backoffMs(n, 100, 1_000))).toEqual([
      100, 200, 400, 800, 1_000, 1_000,
    ]);
  });
});
