import type { ReporterIdentity } from '../reports/live-reporters';
import type { ReportCount, ReportV1 } from '../reports/report.types';
import type { Totals } from '../reports/report-version';
import { SEQ_WINDOW } from '../reports/seq-dedupe';

const OVERFLOW = '__overflow__';

interface SeriesTotals {
  workload: string;
  namespace: string;
  method: string;
  code: ReportCount['code'];
  route: string;
  n: number;
  buckets: number[];
  sumMs: number;
  bytesIn: number;
  bytesOut: number;
  /** When a report last added to it (for the TTL; absent in files written before it was kept). */
  lastMs?: number;
}

interface ReporterWindow {
  highest: number;
  /** seen[seq % SEQ_WINDOW] for seq in (highest - SEQ_WINDOW, highest], as in SeqDedupe. */
  seen: Uint8Array;
  lastSeenMs: number;
  /** Who it said it was in its last applied report (the live-reporters registry shows it). */
  source: ReporterIdentity['source'];
}

/** What a restart hands back to the reports feature. */
export interface RestoreTarget {
  /** Adds cumulative counts (a synthetic report per source) to the observed-traffic metrics. */
  applied(report: ReportV1): void;
  /** Marks (id, seq) as applied in the exactly-once memory. */
  firstTime(id: string, seq: number, atMs: number): void;
  /** Records the reporter as seen at `atMs` (the live-reporters registry). */
  seen(identity: ReporterIdentity, atMs: number): void;
}

/** The serialised form: plain JSON. */
interface TrafficSnapshot {
  series: Array<Omit<SeriesTotals, never>>;
  reporters: Array<{
    id: string;
    highest: number;
    seen: string;
    lastSeenMs: number;
    source: ReporterIdentity['source'];
  }>;
  /** Report versions besides 1 (absent in files written before they were kept). */
  versions?: Record<string, Totals>;
  /** When each of those keys was last added to (for the TTL; absent in older files). */
  versionTimes?: Record<string, Array<[key: string, lastMs: number]>>;
}

/**
 * The durable part of structured-report state, kept beside the metrics: cumulative observed-traffic
 * totals per label set, and each reporter's exactly-once window and last-seen time. Bounded like the
 * state it mirrors: at most `maxSeries` label sets (then one __overflow__ set, as the metrics do) and
 * `maxReporters` reporters (least recently seen forgotten first).
 */
export class TrafficState {
  private readonly series = new Map<string, SeriesTotals>();
  private readonly reporters = new Map<string, ReporterWindow>();
  /** Other report versions' totals: version -> opaque key -> values added element-wise. */
  private readonly versions = new Map<number, Map<string, number[]>>();
  /** version -> key -> when a report last added to it (for the TTL). */
  private readonly versionTimes = new Map<number, Map<string, number>>();

  constructor(
    private readonly maxSeries: number,
    private readonly maxReporters: number,
    /** SERIES_TTL_SECONDS in ms (0 = never): a label set idle this long is forgotten, as its series is. */
    private readonly ttlMs = 0,
  ) {}

  /** A report that was applied (first time its (id, seq) was seen). */
  apply(report: ReportV1, receivedAtMs: number): void {
    this.markSeen(report.reporter.id, report.reporter.seq, receivedAtMs, report.source);
    for (const count of report.counts) {
      const key = JSON.stringify([
        report.source.workload,
        report.source.namespace,
        count.method,
        count.code,
        count.route,
      ]);
      let totals = this.series.get(key);
      if (totals && this.expired(totals, receivedAtMs)) {
        this.series.delete(key); // the metric's series expired too: it starts again from zero
        totals = undefined;
      }
      if (!totals) {
        const full = this.series.size >= this.maxSeries;
        const overflowKey = JSON.stringify([OVERFLOW, OVERFLOW, OVERFLOW, OVERFLOW, OVERFLOW]);
        totals = full ? this.series.get(overflowKey) : undefined;
        if (!totals || this.expired(totals, receivedAtMs)) {
          totals = {
            workload: full ? OVERFLOW : report.source.workload,
            namespace: full ? OVERFLOW : report.source.namespace,
            method: full ? OVERFLOW : count.method,
            code: full ? (OVERFLOW as ReportCount['code']) : count.code,
            route: full ? OVERFLOW : count.route,
            n: 0,
            buckets: new Array<number>(count.duration_buckets.length).fill(0),
            sumMs: 0,
            bytesIn: 0,
            bytesOut: 0,
          };
          this.series.set(full ? overflowKey : key, totals);
        }
      }
      totals.lastMs = Math.max(totals.lastMs ?? 0, receivedAtMs);
      totals.n += count.n;
      for (let i = 0; i < count.duration_buckets.length; i++)
        totals.buckets[i] += count.duration_buckets[i];
      totals.sumMs += count.duration_sum_ms;
      totals.bytesIn += count.bytes_in;
      totals.bytesOut += count.bytes_out;
    }
  }

  /**
   * A report of another version that was applied: its reporter's window, and what it adds to that
   * version's totals. At most `maxSeries` keys per version: what a new key past that adds is not kept.
   */
  applyVersion(
    version: number,
    identity: ReporterIdentity,
    add: Totals,
    receivedAtMs: number,
  ): void {
    this.markSeen(identity.reporter.id, identity.reporter.seq, receivedAtMs, identity.source);
    let totals = this.versions.get(version);
    if (!totals) this.versions.set(version, (totals = new Map()));
    let times = this.versionTimes.get(version);
    if (!times) this.versionTimes.set(version, (times = new Map()));
    for (const [key, values] of add) {
      let kept = totals.get(key);
      if (kept && this.stale(times.get(key), receivedAtMs)) kept = undefined; // expired: from zero
      if (!kept) {
        if (!totals.has(key) && totals.size >= this.maxSeries) continue;
        totals.set(key, (kept = []));
      }
      times.set(key, Math.max(times.get(key) ?? 0, receivedAtMs));
      for (let i = 0; i < values.length; i++) kept[i] = (kept[i] ?? 0) + values[i];
    }
  }

  /**
   * Forgets the label sets idle for the TTL at `nowMs` (a restart: the time it was down counts as
   * idle, as it would in a live process); with `refresh`, the ones left count as updated now (their
   * restored series start a fresh TTL).
   */
  expire(nowMs: number, refresh = false): void {
    for (const [key, totals] of this.series) {
      if (this.expired(totals, nowMs)) this.series.delete(key);
      else if (refresh) totals.lastMs = Math.max(totals.lastMs ?? 0, nowMs);
    }
    for (const [version, times] of this.versionTimes) {
      const totals = this.versions.get(version);
      for (const [key, lastMs] of times) {
        if (this.stale(lastMs, nowMs)) {
          times.delete(key);
          totals?.delete(key);
        } else if (refresh) times.set(key, Math.max(lastMs, nowMs));
      }
    }
  }

  private expired(totals: SeriesTotals, nowMs: number): boolean {
    return this.stale(totals.lastMs, nowMs);
  }

  private stale(lastMs: number | undefined, nowMs: number): boolean {
    return this.ttlMs > 0 && lastMs !== undefined && lastMs <= nowMs - this.ttlMs;
  }

  /** A version's totals, for its restore. */
  versionTotals(version: number): Totals {
    return [...(this.versions.get(version) ?? [])].map(([key, values]) => [key, [...values]]);
  }

  /** Hands everything back, reporters in least-recently-seen order (so LRU order survives). */
  restoreInto(target: RestoreTarget): void {
    const bySource = new Map<string, ReportV1>();
    for (const s of this.series.values()) {
      const sourceKey = JSON.stringify([s.workload, s.namespace]);
      let report = bySource.get(sourceKey);
      if (!report) {
        report = {
          v: 1,
          reporter: { id: 'restored', seq: 0 },
          source: { workload: s.workload, namespace: s.namespace, pod: '' },
          window: { start_ms: 0, end_ms: 0 },
          buckets_ms: [],
          counts: [],
        };
        bySource.set(sourceKey, report);
      }
      report.counts.push({
        method: s.method,
        code: s.code,
        route: s.route,
        n: s.n,
        duration_buckets: [...s.buckets],
        duration_sum_ms: s.sumMs,
        bytes_in: s.bytesIn,
        bytes_out: s.bytesOut,
      });
    }
    for (const report of bySource.values()) target.applied(report);
    for (const [id, window] of this.reporters) {
      for (let seq = Math.max(1, window.highest - SEQ_WINDOW + 1); seq <= window.highest; seq++) {
        if (window.seen[seq % SEQ_WINDOW] === 1) target.firstTime(id, seq, window.lastSeenMs);
      }
      target.seen(
        { reporter: { id, seq: window.highest }, source: window.source },
        window.lastSeenMs,
      );
    }
  }

  toJSON(): TrafficSnapshot {
    return {
      series: [...this.series.values()],
      reporters: [...this.reporters].map(([id, w]) => ({
        id,
        highest: w.highest,
        seen: Buffer.from(w.seen).toString('base64'),
        lastSeenMs: w.lastSeenMs,
        source: w.source,
      })),
      versions: Object.fromEntries(
        [...this.versions.keys()].map((v) => [String(v), this.versionTotals(v)]),
      ),
      versionTimes: Object.fromEntries(
        [...this.versionTimes].map(([v, times]) => [String(v), [...times]]),
      ),
    };
  }

  /** Loads a snapshot written by toJSON() (its shape was checked by the caller's parse). */
  load(snapshot: TrafficSnapshot): void {
    for (const s of snapshot.series) {
      this.series.set(JSON.stringify([s.workload, s.namespace, s.method, s.code, s.route]), {
        ...s,
      });
    }
    for (const r of snapshot.reporters) {
      const seen = new Uint8Array(SEQ_WINDOW);
      seen.set(Buffer.from(r.seen, 'base64').subarray(0, SEQ_WINDOW));
      this.reporters.set(r.id, {
        highest: r.highest,
        seen,
        lastSeenMs: r.lastSeenMs,
        source: { ...r.source },
      });
    }
    for (const [v, totals] of Object.entries(snapshot.versions ?? {})) {
      this.versions.set(Number(v), new Map(totals.map(([key, values]) => [key, [...values]])));
    }
    for (const [v, times] of Object.entries(snapshot.versionTimes ?? {})) {
      this.versionTimes.set(Number(v), new Map(times));
    }
  }

  get seriesCount(): number {
    return this.series.size;
  }

  private markSeen(
    id: string,
    seq: number,
    nowMs: number,
    source: ReporterIdentity['source'],
  ): void {
    let entry = this.reporters.get(id);
    if (entry) this.reporters.delete(id);
    else {
      entry = { highest: 0, seen: new Uint8Array(SEQ_WINDOW), lastSeenMs: nowMs, source };
      while (this.reporters.size >= this.maxReporters) {
        const oldest = this.reporters.keys().next().value;
        if (oldest === undefined) break;
        this.reporters.delete(oldest);
      }
    }
    entry.lastSeenMs = nowMs;
    entry.source = { workload: source.workload, namespace: source.namespace, pod: source.pod };
    this.reporters.set(id, entry);
    if (seq > entry.highest) {
      const from = Math.max(entry.highest + 1, seq - SEQ_WINDOW + 1);
      for (let s = from; s <= seq; s++) entry.seen[s % SEQ_WINDOW] = 0;
      entry.highest = seq;
    }
    if (seq > entry.highest - SEQ_WINDOW) entry.seen[seq % SEQ_WINDOW] = 1;
  }
}
