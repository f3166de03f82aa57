import { BUCKET_BOUNDS_MS } from '../../src/reports/report-validator';
import type { ReportV1 } from '../../src/reports/report.types';
import { ENVOY_BUCKETS, ISTIO_LABELS, type ReportV2 } from '../../src/istio/report-v2.types';

/** A valid traffic report (schema v1): 3 GET 2xx requests on route `api`; override any part. */
export function validReport(overrides: Partial<ReportV1> = {}): ReportV1 {
  return {
    v: 1,
    reporter: { id: '0123456789abcdef', seq: 1 },
    source: { workload: 'shop', namespace: 'default', pod: 'shop-7d9f-abcde' },
    window: { start_ms: 1_700_000_000_000, end_ms: 1_700_000_005_000 },
    buckets_ms: [...BUCKET_BOUNDS_MS],
    counts: [
      {
        method: 'GET',
        code: '2xx',
        route: 'api',
        n: 3,
        duration_buckets: [1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        duration_sum_ms: 12_000,
        bytes_in: 0,
        bytes_out: 900,
      },
    ],
    ...overrides,
  };
}

const oneIn = (slot: number, n: number) =>
  Array.from({ length: ENVOY_BUCKETS.length + 1 }, (_, i) => (i === slot ? n : 0));

/**
 * A valid istio-mode report (schema v2): 2 requests answered 200 and 1 answered 503 (duration sum 7.5 ms,
 * request bytes sum 200, response bytes sum 900 per entry), Istio's labels `<label>-x`; override any part.
 */
export function validReportV2(overrides: Partial<ReportV2> = {}): ReportV2 {
  const strings = [...ISTIO_LABELS.map((name) => `${name}-x`), '200', '503'];
  const entry = (code: number, n: number) => ({
    d: ISTIO_LABELS.map((name, i) => (name === 'response_code' ? code : i)),
    n,
    duration_ms: oneIn(3, n),
    duration_sum_ms: 7.5,
    request_bytes: oneIn(7, n),
    request_bytes_sum: 200,
    response_bytes: oneIn(9, n),
    response_bytes_sum: 900,
  });
  return {
    v: 2,
    reporter: { id: '0123456789abcdef', seq: 1 },
    source: { workload: 'productpage-v1', namespace: 'bookinfo', pod: 'productpage-v1-6b7f-abcde' },
    window: { start_ms: 1_700_000_000_000, end_ms: 1_700_000_005_000 },
    buckets: [...ENVOY_BUCKETS],
    strings,
    http: [entry(ISTIO_LABELS.length, 2), entry(ISTIO_LABELS.length + 1, 1)],
    ...overrides,
  };
}
