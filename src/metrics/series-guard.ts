import type { Clock } from '../common/clock';

/** Label value given to every label of the one series that collects label sets past the cap. */
export const OVERFLOW = '__overflow__';

export interface SeriesLimits {
  /** Label sets kept per metric, not counting the overflow series. */
  maxSeries: number;
  /** Sets not updated for this long are forgotten; 0 = never. */
  ttlMs: number;
  /** Longer label values are cut to this many UTF-16 units (never splitting a surrogate pair). */
  maxValueChars: number;
}

export type Labels<L extends string> = Record<L, string>;

interface Tracked<L extends string> {
  labels: Labels<L>;
  lastUpdateMs: number;
}

/** Cuts `value` to at most `max` UTF-16 units without leaving half a surrogate pair behind. */
export function cutLabelValue(value: string, max: number): string {
  if (value.length <= max) return value;
  const end = /[\uD800-\uDBFF]/.test(value.charAt(max - 1)) ? max - 1 : max;
  return value.slice(0, end);
}

/**
 * Guards one metric against unbounded label sets coming from the network: decides which series
 * an update lands in (its own, or the overflow series once `maxSeries` sets exist), remembers
 * when each set was last updated, and forgets sets idle for longer than the TTL.
 */
export class SeriesGuard<L extends string> {
  private readonly tracked = new Map<string, Tracked<L>>();
  private overflow: Tracked<L> | undefined;

  constructor(
    readonly metric: string,
    private readonly labelNames: readonly L[],
    private readonly limits: SeriesLimits,
    private readonly clock: Clock,
    /** Called once per update that was redirected into the overflow series. */
    private readonly onDropped: (metric: string) => void,
    /** Called with the labels of each series the TTL removed, so its owner deletes the samples. */
    private readonly onExpired: (labels: Labels<L>) => void,
  ) {}

  /** Returns the labels this update must be recorded under. */
  admit(raw: Labels<L>): Labels<L> {
    const now = this.clock.now();
    const key = this.keyOf(raw);
    const known = this.tracked.get(key);
    if (known) {
      known.lastUpdateMs = now; // the hot path: no allocation for a known series
      return known.labels;
    }
    if (this.tracked.size < this.limits.maxSeries) {
      const labels = this.cut(raw);
      this.tracked.set(key, { labels, lastUpdateMs: now });
      return labels;
    }
    this.onDropped(this.metric);
    this.overflow ??= { labels: this.overflowLabels(), lastUpdateMs: now };
    this.overflow.lastUpdateMs = now;
    return this.overflow.labels;
  }

  /** Removes the series idle for at least the TTL; returns how many went. */
  sweep(): number {
    if (this.limits.ttlMs <= 0) return 0;
    const cutoff = this.clock.now() - this.limits.ttlMs;
    let removed = 0;
    for (const [key, entry] of this.tracked) {
      if (entry.lastUpdateMs <= cutoff) {
        this.tracked.delete(key);
        this.onExpired(entry.labels);
        removed++;
      }
    }
    if (this.overflow && this.overflow.lastUpdateMs <= cutoff) {
      this.onExpired(this.overflow.labels);
      this.overflow = undefined;
      removed++;
    }
    return removed;
  }

  /** Number of live series, the overflow series included. */
  get size(): number {
    return this.tracked.size + (this.overflow ? 1 : 0);
  }

  private valueOf(raw: Labels<L>, name: L): string {
    return cutLabelValue(String(raw[name] ?? ''), this.limits.maxValueChars);
  }

  private cut(raw: Labels<L>): Labels<L> {
    // A plain object is safe here: its keys are this metric's label names, fixed in code; only the
    // values come from the network. (Null-prototype objects are dictionary-mode in V8 and made
    // rendering /metrics about 40 % slower.)
    const labels = {} as Labels<L>;
    for (const name of this.labelNames) labels[name] = this.valueOf(raw, name);
    return labels;
  }

  /** Identifies the series `raw` lands in (values cut first, so cut-equal values share it). */
  private keyOf(raw: Labels<L>): string {
    return this.labelNames.length === 1
      ? this.valueOf(raw, this.labelNames[0])
      : JSON.stringify(this.labelNames.map((name) => this.valueOf(raw, name)));
  }

  private overflowLabels(): Labels<L> {
    const labels = {} as Labels<L>;
    for (const name of this.labelNames) labels[name] = OVERFLOW;
    return labels;
  }
}
