import { BUCKET_BOUNDS_MS } from '../../src/reports/report-validator';
import type { ReportV1 } from '../../src/reports/report.types';

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
