/** Where refusal lines go (a pino logger in production). */
export interface WarnSink {
  warn(fields: object, message: string): void;
}

/**
 * Logs refusals at most once per `intervalMs` per reason, with how many were refused since the last
 * line: a flood of refused connections must not become a flood of log lines.
 */
export class RefusalLog {
  private readonly last = new Map<string, { atMs: number; suppressed: number }>();

  constructor(
    private readonly sink: () => WarnSink | undefined,
    private readonly intervalMs = 10_000,
    private readonly now: () => number = () => Date.now(),
  ) {}

  refused(reason: string, detail: string): void {
    const now = this.now();
    const entry = this.last.get(reason);
    if (entry && now - entry.atMs < this.intervalMs) {
      entry.suppressed++;
      return;
    }
    this.sink()?.warn(
      { event: 'refused', reason, refusedSinceLastLine: (entry?.suppressed ?? 0) + 1 },
      detail,
    );
    this.last.set(reason, { atMs: now, suppressed: 0 });
  }
}
