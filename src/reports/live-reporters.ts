/** What a report says about its sender: enough for LiveReporters (v1 reports, and any later version). */
export interface ReporterIdentity {
  reporter: { id: string; seq: number };
  source: { workload: string; namespace: string; pod: string };
}

/** One reporter as the status page shows it. */
export interface ReporterView {
  id: string;
  workload: string;
  namespace: string;
  pod: string;
  lastSeenMs: number;
  /** The highest seq received from this reporter (re-sends included). */
  lastSeq: number;
  /** Reports received again from it and not counted. */
  duplicates: number;
}

/**
 * Which reporters are alive: seen (any valid report, re-sends included) within the last `windowMs`.
 * Separate from the exactly-once memory, which may remember a reporter long after it went quiet.
 * Reporter ids are random per VM start, so without the window every restart would add one forever.
 * At most `maxReporters` ids are kept; the least recently seen is forgotten first. Each entry holds
 * the reporter's last identity (strings the schema bounds), so memory stays bounded too.
 */
export class LiveReporters {
  /** Reporter id -> what it last said, least recently seen first (Map order). */
  private readonly reporters = new Map<string, ReporterView>();

  constructor(
    private readonly windowMs: number,
    private readonly maxReporters: number,
  ) {}

  seen(report: ReporterIdentity, nowMs: number, duplicate = false): void {
    const { id, seq } = report.reporter;
    const known = this.reporters.get(id);
    this.reporters.delete(id); // re-inserted last: the most recently seen
    this.reporters.set(id, {
      id,
      workload: report.source.workload,
      namespace: report.source.namespace,
      pod: report.source.pod,
      lastSeenMs: nowMs,
      lastSeq: Math.max(seq, known?.lastSeq ?? 0),
      duplicates: (known?.duplicates ?? 0) + (duplicate ? 1 : 0),
    });
    if (this.reporters.size > this.maxReporters) {
      const oldest = this.reporters.keys().next().value;
      if (oldest !== undefined) this.reporters.delete(oldest);
    }
  }

  /** Reporters seen within the window ending at `nowMs`; the others are forgotten. */
  count(nowMs: number): number {
    for (const [id, reporter] of this.reporters) {
      if (reporter.lastSeenMs > nowMs - this.windowMs) break; // the rest were seen more recently
      this.reporters.delete(id);
    }
    return this.reporters.size;
  }

  /** Up to `limit` live reporters, the stalest first (copies: callers cannot change the registry). */
  list(nowMs: number, limit: number): ReporterView[] {
    this.count(nowMs);
    const shown: ReporterView[] = [];
    for (const reporter of this.reporters.values()) {
      if (shown.length >= limit) break;
      shown.push({ ...reporter });
    }
    return shown;
  }
}
