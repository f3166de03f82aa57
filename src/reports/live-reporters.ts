/**
 * Which reporters are alive: seen (any valid report, re-sends included) within the last `windowMs`.
 * Separate from the exactly-once memory, which may remember a reporter long after it went quiet.
 * Reporter ids are random per VM start, so without the window every restart would add one forever.
 * At most `maxReporters` ids are kept; the least recently seen is forgotten first.
 */
export class LiveReporters {
  /** Reporter id -> last seen (ms), least recently seen first (Map order). */
  private readonly lastSeen = new Map<string, number>();

  constructor(
    private readonly windowMs: number,
    private readonly maxReporters: number,
  ) {}

  seen(id: string, nowMs: number): void {
    this.lastSeen.delete(id); // re-inserted last: the most recently seen
    this.lastSeen.set(id, nowMs);
    if (this.lastSeen.size > this.maxReporters) {
      const oldest = this.lastSeen.keys().next().value;
      if (oldest !== undefined) this.lastSeen.delete(oldest);
    }
  }

  /** Reporters seen within the window ending at `nowMs`; the others are forgotten. */
  count(nowMs: number): number {
    for (const [id, lastSeenMs] of this.lastSeen) {
      if (lastSeenMs > nowMs - this.windowMs) break; // the rest were seen more recently
      this.lastSeen.delete(id);
    }
    return this.lastSeen.size;
  }
}
