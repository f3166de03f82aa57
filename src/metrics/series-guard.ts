import type { Clock } from '../common/clock';
import type { SeriesBytes } from './memory-budget';

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

/** Optional limits beyond SeriesLimits; a guard without them behaves as before (count cap only). */
export interface GuardOptions<L extends string> {
  /** Shared by every guard of the registry: a new series must fit its estimated cost. */
  budget?: SeriesBytes;
  /** Exposition lines per series: 1 for counters and gauges, buckets + 2 for histograms. */
  linesPerSeries?: number;
  /** The labels naming who caused a series (e.g. source workload and namespace). */
  sourceLabels?: readonly L[];
  /** With sourceLabels: the share of maxSeries one source may hold, in (0, 1]. */
  sourceShare?: number;
}

/** Why an update went to the overflow series. */
export type DropReason = 'max_series' | 'memory_budget' | 'source_share';

interface Tracked<L extends string> {
  labels: Labels<L>;
  lastUpdateMs: number;
  costBytes: number;
  source: string | undefined;
}

/**
 * Estimated bytes one series costs: its heap (guard entry, key, the metric's own entry: about 500
 * bytes plus two copies of the values, measured with prom-client 15 at 1 and 128 chars per value) and
 * twice its exposition text (the rendered body, plus the strings a render builds on the way).
 */
export function seriesCost(metric: string, labels: Record<string, string>, lines: number): number {
  let valueChars = 0;
  let labelText = 0;
  for (const [name, value] of Object.entries(labels)) {
    valueChars += value.length;
    labelText += name.length + value.length + 4; // name="value",
  }
  // Histogram lines also carry le="..." and a _bucket/_sum/_count suffix.
  const lineBytes = metric.length + labelText + (lines > 1 ? 24 : 0) + 24;
  return 500 + 2 * valueChars + 2 * lines * lineBytes;
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
  /** Series per source, for the fairness share (only with sourceLabels). */
  private readonly perSource = new Map<string, number>();
  private totalCostBytes = 0;
  private readonly dropped: Record<DropReason, number> = {
    max_series: 0,
    memory_budget: 0,
    source_share: 0,
  };

  constructor(
    readonly metric: string,
    private readonly labelNames: readonly L[],
    private readonly limits: SeriesLimits,
    private readonly clock: Clock,
    /** Called once per update that was redirected into the overflow series. */
    private readonly onDropped: (metric: string) => void,
    /** Called with the labels of each series the TTL removed, so its owner deletes the samples. */
    private readonly onExpired: (labels: Labels<L>) => void,
    private readonly options: GuardOptions<L> = {},
  ) {}

  /**
   * Returns the labels this update must be recorded under. `key` is keyOf(raw), when the caller has
   * it already (several metrics with the same label names updated with one label set).
   */
  admit(raw: Labels<L>, key = this.keyOf(raw)): Labels<L> {
    const now = this.clock.now();
    const known = this.tracked.get(key);
    if (known) {
      known.lastUpdateMs = now; // the hot path: no allocation for a known series
      return known.labels;
    }
    const refused = this.refusal(raw);
    if (refused === undefined) {
      const labels = this.cut(raw);
      const costBytes = seriesCost(this.metric, labels, this.options.linesPerSeries ?? 1);
      if (!this.options.budget || this.options.budget.tryReserve(costBytes)) {
        const source = this.sourceOf(labels);
        if (source !== undefined) this.perSource.set(source, (this.perSource.get(source) ?? 0) + 1);
        this.tracked.set(key, { labels, lastUpdateMs: now, costBytes, source });
        this.totalCostBytes += costBytes;
        return labels;
      }
      this.dropped.memory_budget++;
    } else {
      this.dropped[refused]++;
    }
    this.onDropped(this.metric);
    this.overflow ??= {
      labels: this.overflowLabels(),
      lastUpdateMs: now,
      costBytes: 0,
      source: undefined,
    };
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
        this.forget(entry);
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

  /** Estimated bytes of the tracked series (what they hold of the memory budget). */
  get costBytes(): number {
    return this.totalCostBytes;
  }

  /** Updates sent to the overflow series so far, by why. */
  get droppedByReason(): Readonly<Record<DropReason, number>> {
    return this.dropped;
  }

  /**
   * How many series this metric can hold now: MAX_SERIES, or fewer when the shared memory budget
   * runs out first (what is left of it, at this metric's average cost per series).
   */
  get limit(): number {
    const { budget } = this.options;
    if (!budget) return this.limits.maxSeries;
    const average =
      this.tracked.size > 0
        ? this.totalCostBytes / this.tracked.size
        : seriesCost(this.metric, {}, this.options.linesPerSeries ?? 1);
    const fits = this.tracked.size + Math.floor(budget.remaining / average);
    return Math.min(this.limits.maxSeries, fits);
  }

  /** Why a new label set cannot get its own series, if it cannot (the budget is tried last). */
  private refusal(raw: Labels<L>): DropReason | undefined {
    if (this.tracked.size >= this.limits.maxSeries) return 'max_series';
    const { sourceShare } = this.options;
    if (sourceShare === undefined || sourceShare >= 1) return undefined;
    const source = this.sourceOf(raw);
    if (source === undefined) return undefined;
    const perSourceMax = Math.max(1, Math.floor(sourceShare * this.limits.maxSeries));
    return (this.perSource.get(source) ?? 0) >= perSourceMax ? 'source_share' : undefined;
  }

  private sourceOf(labels: Labels<L>): string | undefined {
    const names = this.options.sourceLabels;
    if (!names || names.length === 0) return undefined;
    return JSON.stringify(names.map((name) => this.valueOf(labels, name)));
  }

  private forget(entry: Tracked<L>): void {
    this.totalCostBytes -= entry.costBytes;
    this.options.budget?.release(entry.costBytes);
    if (entry.source === undefined) return;
    const left = (this.perSource.get(entry.source) ?? 1) - 1;
    if (left > 0) this.perSource.set(entry.source, left);
    else this.perSource.delete(entry.source);
  }

  private valueOf(raw: Labels<L>, name: L): string {
    const value = raw[name];
    return cutLabelValue(
      typeof value === 'string' ? value : String(value ?? ''),
      this.limits.maxValueChars,
    );
  }

  private cut(raw: Labels<L>): Labels<L> {
    // A plain object is safe here: its keys are this metric's label names, fixed in code; only the
    // values come from the network. (Null-prototype objects are dictionary-mode in V8 and made
    // rendering /metrics about 40 % slower.)
    const labels = {} as Labels<L>;
    for (const name of this.labelNames) labels[name] = this.valueOf(raw, name);
    return labels;
  }

  /**
   * Identifies the series `raw` lands in (values cut first, so cut-equal values share it); the same
   * for every guard with the same label names and limits.
   */
  keyOf(raw: Labels<L>): string {
    const names = this.labelNames;
    if (names.length === 1) return this.valueOf(raw, names[0]);
    // Each value prefixed with its length: unambiguous whatever the values contain, and one string
    // concatenation instead of an array and JSON.stringify per update (the hot path).
    let key = '';
    for (let i = 0; i < names.length; i++) {
      const value = this.valueOf(raw, names[i]);
      key += `${value.length}:${value}`;
    }
    return key;
  }

  private overflowLabels(): Labels<L> {
    const labels = {} as Labels<L>;
    for (const name of this.labelNames) labels[name] = OVERFLOW;
    return labels;
  }
}
