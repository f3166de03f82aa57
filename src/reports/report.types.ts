/** A traffic-mode report, as described by report-v1.schema.json (the contract with the reporter). */
export interface ReportV1 {
  v: 1;
  reporter: { id: string; seq: number };
  source: { workload: string; namespace: string; pod: string };
  window: { start_ms: number; end_ms: number };
  buckets_ms: number[];
  counts: ReportCount[];
}

export interface ReportCount {
  method: string;
  code: '1xx' | '2xx' | '3xx' | '4xx' | '5xx' | 'none';
  route: string;
  n: number;
  /** Non-cumulative counts, one per bound of buckets_ms, then +Inf. */
  duration_buckets: number[];
  duration_sum_ms: number;
  bytes_in: number;
  bytes_out: number;
}
