/** How many recent seqs are remembered per reporter; older ones count as already seen. */
export const SEQ_WINDOW = 1024;

interface ReporterSeqs {
  highest: number;
  /** seen[seq % SEQ_WINDOW] for seq in (highest - SEQ_WINDOW, highest]. */
  seen: Uint8Array;
  lastSeenMs: number;
}

/**
 * Exactly-once memory for (reporter id, seq), bounded twice: a window of recent seqs per reporter,
 * and at most `maxReporters` reporters (the least recently seen is forgotten first). Reporters not
 * seen for `ttlMs` are forgotten (0 = only when the bound requires it).
 */
export class SeqDedupe {
  private readonly reporters = new Map<string, ReporterSeqs>();

  constructor(
    private readonly maxReporters: number,
    private readonly ttlMs: number,
    /** How far ahead of a known reporter's highest seq a new seq may be (see tooFarAhead). */
    private readonly maxGap = Number.POSITIVE_INFINITY,
  ) {}

  /**
   * The highest seq remembered for `id` when `seq` is more than maxGap beyond it, else undefined.
   * Such a seq is refused rather than made the new high-water mark: accepted, one forged report
   * would turn every later report of that reporter into a "duplicate". Nothing is recorded here.
   */
  tooFarAhead(id: string, seq: number): number | undefined {
    const entry = this.reporters.get(id);
    if (!entry || seq - entry.highest <= this.maxGap) return undefined;
    return entry.highest;
  }

  /** Records the pair and returns true the first time it is seen, false for a re-send. */
  firstTime(id: string, seq: number, nowMs: number): boolean {
    let entry = this.reporters.get(id);
    if (entry) {
      this.reporters.delete(id); // re-inserted below: Map order is least recently seen first
    } else {
      entry = { highest: 0, seen: new Uint8Array(SEQ_WINDOW), lastSeenMs: nowMs };
      while (this.reporters.size >= this.maxReporters) {
        const oldest = this.reporters.keys().next().value;
        if (oldest === undefined) break;
        this.reporters.delete(oldest);
      }
    }
    entry.lastSeenMs = nowMs;
    this.reporters.set(id, entry);

    if (seq <= entry.highest - SEQ_WINDOW) return false;
    if (seq > entry.highest) {
      const from = Math.max(entry.highest + 1, seq - SEQ_WINDOW + 1);
      for (let s = from; s <= seq; s++) entry.seen[s % SEQ_WINDOW] = 0;
      entry.highest = seq;
    }
    if (entry.seen[seq % SEQ_WINDOW] === 1) return false;
    entry.seen[seq % SEQ_WINDOW] = 1;
    return true;
  }

  /** Forgets reporters not seen for the TTL. */
  expire(nowMs: number): void {
    if (this.ttlMs <= 0) return;
    for (const [id, entry] of this.reporters) {
      if (entry.lastSeenMs > nowMs - this.ttlMs) break; // the rest were seen more recently
      this.reporters.delete(id);
    }
  }

  /** Reporters currently remembered. */
  get size(): number {
    return this.reporters.size;
  }
}
