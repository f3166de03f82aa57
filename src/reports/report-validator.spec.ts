import { BUCKET_BOUNDS_MS, checkReport } from './report-validator';
import type { ReportV1 } from './report.types';
import { validReport } from '../../test/support/report-fixture';

type Mutate = (r: Record<string, unknown> & ReportV1) => void;

describe('checkReport', () => {
  it('accepts a valid report', () => {
    expect(checkReport(validReport())).toEqual({ ok: true, report: validReport() });
    expect(checkReport(validReport({ counts: [] })).ok).toBe(true);
  });

  it('uses the schema bucket bounds', () => {
    expect(BUCKET_BOUNDS_MS).toEqual([5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000]);
  });

  it.each<[string, Mutate, string]>([
    [
      'wrong version',
      (r) => ((r as Record<string, unknown>).v = 2),
      '/v: must be equal to constant',
    ],
    [
      'missing reporter',
      (r) => delete (r as Partial<ReportV1>).reporter,
      "(root): must have required property 'reporter'",
    ],
    ['bad reporter id', (r) => (r.reporter.id = 'XYZ'), '/reporter/id: must match pattern'],
    ['seq 0', (r) => (r.reporter.seq = 0), '/reporter/seq: must be >= 1'],
    ['fractional seq', (r) => (r.reporter.seq = 1.5), '/reporter/seq: must be integer'],
    [
      'seq as string',
      (r) => ((r.reporter as Record<string, unknown>).seq = '1'),
      '/reporter/seq: must be integer',
    ],
    [
      'empty workload',
      (r) => (r.source.workload = ''),
      '/source/workload: must NOT have fewer than 1 characters',
    ],
    [
      'extra field',
      (r) => ((r as Record<string, unknown>).extra = 1),
      "(root): must NOT have additional properties 'extra'",
    ],
    [
      '__proto__ field',
      (r) => Object.defineProperty(r.source, '__proto__', { value: 1, enumerable: true }),
      "/source: must NOT have additional properties '__proto__'",
    ],
    [
      'other bucket bounds',
      (r) => (r.buckets_ms = [1, 2, 3]),
      '/buckets_ms: must be equal to constant',
    ],
    ['negative window', (r) => (r.window.start_ms = -1), '/window/start_ms: must be >= 0'],
    [
      'unknown code class',
      (r) => ((r.counts[0] as unknown as Record<string, unknown>).code = '6xx'),
      '/counts/0/code: must be equal to one of the allowed values: "1xx"',
    ],
    ['n = 0', (r) => (r.counts[0].n = 0), '/counts/0/n: must be >= 1'],
    // Value bounds: sums mesha keeps stay exact (n < 2^32), bytes bounded, sums finite.
    ['n = 2^32', (r) => (r.counts[0].n = 2 ** 32), '/counts/0/n: must be <= 4294967295'],
    [
      'a bucket of 2^32',
      (r) => (r.counts[0].duration_buckets[0] = 2 ** 32),
      '/counts/0/duration_buckets/0: must be <= 4294967295',
    ],
    [
      'bytes_in over 2^48',
      (r) => (r.counts[0].bytes_in = 2 ** 48 + 1),
      '/counts/0/bytes_in: must be <= 281474976710656',
    ],
    [
      'an infinite duration sum (1e999 in JSON)',
      (r) => (r.counts[0].duration_sum_ms = JSON.parse('1e999') as number),
      '/counts/0/duration_sum_ms: must be number',
    ],
    [
      'a huge finite duration sum',
      (r) => (r.counts[0].duration_sum_ms = 1e300),
      '/counts/0/duration_sum_ms: must be <= 371085174374400000',
    ],
    [
      'a duration sum above what the buckets allow',
      (r) => {
        r.counts[0].duration_buckets = [3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        r.counts[0].duration_sum_ms = 1000;
      },
      '/counts/0/duration_sum_ms: 1000 does not fit duration_buckets (must be between 0 and 18 ms)',
    ],
    [
      'a duration sum below what the buckets allow',
      (r) => {
        r.counts[0].duration_buckets = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3];
        r.counts[0].duration_sum_ms = 100;
      },
      '/counts/0/duration_sum_ms: 100 does not fit duration_buckets (must be between 29997 and',
    ],
    [
      '11 buckets',
      (r) => r.counts[0].duration_buckets.pop(),
      '/counts/0/duration_buckets: must NOT have fewer than 12 items',
    ],
    [
      'negative bucket',
      (r) => (r.counts[0].duration_buckets[3] = -1),
      '/counts/0/duration_buckets/3: must be >= 0',
    ],
    [
      'long route',
      (r) => (r.counts[0].route = 'r'.repeat(129)),
      '/counts/0/route: must NOT have more than 128 characters',
    ],
    [
      'missing bytes_out',
      (r) => delete (r.counts[0] as Partial<ReportV1['counts'][0]>).bytes_out,
      "/counts/0: must have required property 'bytes_out'",
    ],
    [
      'buckets not adding up to n',
      (r) => (r.counts[0].n = 4),
      '/counts/0/duration_buckets: must add up to n (4), they add up to 3',
    ],
    [
      'window ending before it starts',
      (r) => (r.window.end_ms = r.window.start_ms - 1),
      '/window/end_ms: must not be before /window/start_ms',
    ],
  ])('refuses %s, naming the field', (_name, mutate, problem) => {
    const report = validReport() as Record<string, unknown> & ReportV1;
    mutate(report);
    const result = checkReport(report);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.problem.startsWith(problem)).toBe(true);
  });

  it.each([null, 1, 'report', [], {}])('refuses %p', (value) => {
    expect(checkReport(value).ok).toBe(false);
  });
});
