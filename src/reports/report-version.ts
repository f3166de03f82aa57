/** What every structured report carries, whatever its version: who sent it, and from which pod. */
export interface StructuredReport {
  reporter: { id: string; seq: number };
  source: { workload: string; namespace: string; pod: string };
}

export type VersionCheck<R> = { ok: true; report: R } | { ok: false; problem: string };

/**
 * A structured report version other than 1, handled by the feature that owns it (v2: src/istio).
 * ReportsService dispatches on the body's `v` and keeps exactly-once and liveness for all versions.
 */
export interface ReportVersion<R extends StructuredReport = StructuredReport> {
  readonly version: number;
  /** The schema and every other check; nothing is applied before this passes. */
  check(value: unknown): VersionCheck<R>;
  /** Applies a checked report (called once per reporter id and seq). */
  apply(report: R): void;
  /** For the report log line: entries and requests in it. */
  size(report: R): { counts: number; requests: number };
}
