import schema from '../reports/report-v2.schema.json';

/** Istio's standard labels, in the order a v2 entry's `d` lists them (the schema's $defs.dimensionNames). */
export const ISTIO_LABELS = schema.$defs.dimensionNames.const as readonly IstioLabel[];

export type IstioLabel =
  | 'reporter'
  | 'source_workload'
  | 'source_workload_namespace'
  | 'source_principal'
  | 'source_app'
  | 'source_version'
  | 'source_canonical_service'
  | 'source_canonical_revision'
  | 'source_cluster'
  | 'destination_workload'
  | 'destination_workload_namespace'
  | 'destination_principal'
  | 'destination_app'
  | 'destination_version'
  | 'destination_service'
  | 'destination_service_name'
  | 'destination_service_namespace'
  | 'destination_canonical_service'
  | 'destination_canonical_revision'
  | 'destination_cluster'
  | 'request_protocol'
  | 'response_code'
  | 'grpc_response_status'
  | 'response_flags'
  | 'connection_security_policy';

/** The labels of Istio's TCP families, in the order a v2 TCP entry's `d` lists them
 * (the schema's $defs.tcpDimensionNames): no response_code, no grpc_response_status. */
export const ISTIO_TCP_LABELS = schema.$defs.tcpDimensionNames.const as readonly IstioLabel[];

/** Envoy's default histogram bounds (the schema's $defs.envoyBuckets): ms for durations, bytes for sizes. */
export const ENVOY_BUCKETS: readonly number[] = schema.$defs.envoyBuckets.const;

/** An istio-mode report, as described by src/reports/report-v2.schema.json. */
export interface ReportV2 {
  v: 2;
  reporter: { id: string; seq: number };
  source: { workload: string; namespace: string; pod: string };
  window: { start_ms: number; end_ms: number };
  buckets: number[];
  strings: string[];
  http: HttpEntry[];
  /** Absent when the window had no TCP connections. */
  tcp?: TcpEntry[];
}

export interface HttpEntry {
  /** Indices into `strings`, one per ISTIO_LABELS entry. */
  d: number[];
  n: number;
  /** Non-cumulative counts, one per bound, then +Inf. */
  duration_ms: number[];
  duration_sum_ms: number;
  request_bytes: number[];
  request_bytes_sum: number;
  response_bytes: number[];
  response_bytes_sum: number;
}

export interface TcpEntry {
  /** Indices into `strings`, one per ISTIO_TCP_LABELS entry. */
  d: number[];
  opened: number;
  closed: number;
  received_bytes: number;
  sent_bytes: number;
}
