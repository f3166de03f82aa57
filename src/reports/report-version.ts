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
  /** Durable state (STATE_DIR): how the version's cumulative totals are kept; absent = not kept. */
  readonly durable?: DurableTotals<R>;
}

/**
 * Cumulative totals as src/state keeps them for any report version: opaque keys (a label set, a family)
 * to numeric vectors that add element-wise. src/state sums and stores them without knowing the version.
 */
export type Totals = Array<[key: string, values: number[]]>;

export interface DurableTotals<R> {
  /** What a checked report adds to the totals. */
  totalsOf(report: R): Totals;
  /** Hands totals kept before a restart back to the version's metrics (once, at registration). */
  restore(totals: Totals): void;
}
