import Ajv2020 from 'ajv/dist/2020';
import { schemaProblem } from './schema-error';
import schema from './report-v1.schema.json';
import type { ReportV1 } from './report.types';

/** The duration bucket bounds (ms) shared with the reporter: the schema's $defs.bucketBoundsMs. */
export const BUCKET_BOUNDS_MS: readonly number[] = schema.$defs.bucketBoundsMs.const;

// Compiled once, at module load.
const validate = new Ajv2020({ allErrors: false, strict: true }).compile<ReportV1>(schema);

export type ReportCheck = { ok: true; report: ReportV1 } | { ok: false; problem: string };

/** The longest a request may take, for the +Inf bucket's share of duration_sum_ms. */
export const MAX_REQUEST_MS = 24 * 3600 * 1000;

/**
 * The range duration_sum_ms can take given the buckets: each request lies above its bucket's lower
 * bound and at or below its upper bound (MAX_REQUEST_MS for +Inf). 1 ms per request of slack covers
 * the reporter's rounding of nanoseconds to milliseconds.
 */
function sumRangeMs(buckets: readonly number[], n: number): [number, number] {
  let low = 0;
  let high = 0;
  for (let i = 0; i < buckets.length; i++) {
    low += buckets[i] * (i === 0 ? 0 : BUCKET_BOUNDS_MS[i - 1]);
    high += buckets[i] * (i < BUCKET_BOUNDS_MS.length ? BUCKET_BOUNDS_MS[i] : MAX_REQUEST_MS);
  }
  return [Math.max(0, low - n), high + n];
}

/**
 * Checks a parsed body against the schema, then what the schema cannot say: each count's buckets add
 * up to its n, its duration sum fits its buckets, and the window does not end before it starts.
 * Nothing is applied until this passes.
 */
export function checkReport(value: unknown): ReportCheck {
  if (!validate(value)) return { ok: false, problem: schemaProblem(validate) };
  if (value.window.end_ms < value.window.start_ms) {
    return { ok: false, problem: '/window/end_ms: must not be before /window/start_ms' };
  }
  for (const [i, count] of value.counts.entries()) {
    const sum = count.duration_buckets.reduce((total, n) => total + n, 0);
    if (sum !== count.n) {
      return {
        ok: false,
        problem: `/counts/${i}/duration_buckets: must add up to n (${count.n}), they add up to ${sum}`,
      };
    }
    const [low, high] = sumRangeMs(count.duration_buckets, count.n);
    if (count.duration_sum_ms < low || count.duration_sum_ms > high) {
      return {
        ok: false,
        problem:
          `/counts/${i}/duration_sum_ms: ${count.duration_sum_ms} does not fit duration_buckets ` +
          `(must be between ${low} and ${high} ms)`,
      };
    }
  }
  return { ok: true, report: value };
}
