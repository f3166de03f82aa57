const OVERFLOW = '__overflow__';

/** What one accepted seed-style report added (params already filtered by PARAM_LABELS). */
export interface TextApplied {
  msg: string;
  atMs: number;
  bodyBytes: number;
  params: ReadonlyArray<readonly [key: string, value: string]>;
}

/** The kept totals as handed back at start-up. */
export interface TextRestore {
  /** [msg, reports, last received (ms)] */
  reports: Array<[msg: string, n: number, lastMs: number]>;
  params: Array<[key: string, value: string, n: number]>;
  /** Non-cumulative counts per body-size bound (then +Inf), their sum (bytes) and count. */
  body: { buckets: number[]; sum: number; count: number };
  rejected: Array<[reason: string, n: number]>;
}

interface Kept {
  n: number;
  /** When an update last reached it (for the TTL). */
  lastMs: number;
}

/** The serialised form (plain JSON, inside a snapshot record). */
export interface TextSnapshot {
  /** [msg, reports, last update (TTL), last received (the gauge; absent = the last update)] */
  reports: Array<[string, number, number, number?]>;
  params: Array<[string, string, number, number]>;
  body: { buckets: number[]; sum: number; count: number };
  rejected: Array<[string, number]>;
}

/**
 * The durable part of the seed-style reports' metrics (mesha_reports_total, params, last received,
 * body bytes, rejections). Bounded like the metrics it mirrors: at most `maxSeries` label sets per
 * metric (then one __overflow__ set). With a TTL, a set idle for that long is forgotten when it is
 * next updated (it starts again from zero, as the metric's series does) and when state is written
 * whole or restored.
 */
export class TextTotals {
  private readonly reports = new Map<string, Kept & { receivedMs: number }>();
  private readonly params = new Map<string, Kept & { key: string; value: string }>();
  private body: { buckets: number[]; sum: number; count: number };
  private readonly rejected = new Map<string, number>();

  constructor(
    private readonly maxSeries: number,
    private readonly ttlMs: number,
    private readonly bodyBounds: readonly number[],
  ) {
    this.body = { buckets: new Array<number>(bodyBounds.length + 1).fill(0), sum: 0, count: 0 };
  }

  apply(report: TextApplied): void {
    const kept = this.bump(this.reports, report.msg, report.atMs, () => ({
      n: 0,
      lastMs: 0,
      receivedMs: 0,
    }));
    kept.n++;
    kept.receivedMs = Math.max(kept.receivedMs, report.atMs);
    for (const [key, value] of report.params) {
      const id = JSON.stringify([key, value]);
      const overflow = { key: OVERFLOW, value: OVERFLOW, n: 0, lastMs: 0 };
      this.bump(this.params, id, report.atMs, () => ({ key, value, n: 0, lastMs: 0 }), overflow)
        .n++;
    }
    let bucket = this.bodyBounds.findIndex((bound) => report.bodyBytes <= bound);
    if (bucket < 0) bucket = this.bodyBounds.length;
    this.body.buckets[bucket]++;
    this.body.sum += report.bodyBytes;
    this.body.count++;
  }

  rejectedReport(reason: string): void {
    this.rejected.set(reason, (this.rejected.get(reason) ?? 0) + 1);
  }

  /** Forgets every set idle for the TTL at `nowMs`; the ones left count as updated now (restore). */
  expire(nowMs: number, refresh = false): void {
    for (const map of [this.reports, this.params] as Array<Map<string, Kept>>) {
      for (const [id, kept] of map) {
        if (this.expired(kept, nowMs)) map.delete(id);
        else if (refresh) kept.lastMs = Math.max(kept.lastMs, nowMs);
      }
    }
  }

  restore(): TextRestore {
    return {
      reports: [...this.reports].map(([msg, k]) => [msg, k.n, k.receivedMs]),
      params: [...this.params.values()].map((k) => [k.key, k.value, k.n]),
      body: { ...this.body, buckets: [...this.body.buckets] },
      rejected: [...this.rejected],
    };
  }

  toJSON(): TextSnapshot {
    return {
      reports: [...this.reports].map(([msg, k]) => [msg, k.n, k.lastMs, k.receivedMs]),
      params: [...this.params.values()].map((k) => [k.key, k.value, k.n, k.lastMs]),
      body: this.body,
      rejected: [...this.rejected],
    };
  }

  load(snapshot: TextSnapshot): void {
    for (const [msg, n, lastMs, receivedMs = lastMs] of snapshot.reports) {
      this.reports.set(msg, { n, lastMs, receivedMs });
    }
    for (const [key, value, n, lastMs] of snapshot.params) {
      this.params.set(JSON.stringify([key, value]), { key, value, n, lastMs });
    }
    if (snapshot.body.buckets.length === this.body.buckets.length) {
      this.body = { ...snapshot.body, buckets: [...snapshot.body.buckets] };
    }
    for (const [reason, n] of snapshot.rejected) this.rejected.set(reason, n);
  }

  private expired(kept: Kept, nowMs: number): boolean {
    return this.ttlMs > 0 && kept.lastMs <= nowMs - this.ttlMs;
  }

  /** The entry `id` is counted in (its own, or the overflow one once the map is full), touched. */
  private bump<K extends Kept>(
    map: Map<string, K>,
    id: string,
    atMs: number,
    create: () => K,
    overflow?: K,
  ): K {
    let kept = map.get(id);
    if (kept && this.expired(kept, atMs)) {
      map.delete(id);
      kept = undefined;
    }
    if (!kept) {
      const full = map.size - (map.has(OVERFLOW) ? 1 : 0) >= this.maxSeries;
      const key = full ? OVERFLOW : id;
      kept = full ? map.get(OVERFLOW) : undefined;
      if (!kept || this.expired(kept, atMs)) {
        kept = full && overflow ? overflow : create();
        map.set(key, kept);
      }
    }
    kept.lastMs = Math.max(kept.lastMs, atMs);
    return kept;
  }
}
