/**
 * Shares one render among every request that arrives while it runs, and spaces renders out: a new
 * one starts no sooner than `minIntervalMs`, or as long as the previous render took if that is
 * longer, after the previous one ended; the requests arriving in between wait for it together.
 * N concurrent (or pipelined) scrapes cost one render, back-to-back scrapers keep the CPU rendering
 * half of the time at most, and a request never gets a render that ended before it arrived.
 */
export class RenderCoalescer<T> {
  private running: Promise<T> | undefined;
  private scheduled: Promise<T> | undefined;
  private lastEndMs = -Infinity;
  private lastTookMs = 0;

  constructor(
    private readonly render: () => Promise<T>,
    private readonly minIntervalMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  get(): Promise<T> {
    if (this.running) return this.running;
    if (this.scheduled) return this.scheduled;
    const waitMs = this.lastEndMs + Math.max(this.minIntervalMs, this.lastTookMs) - this.now();
    if (waitMs <= 0) return this.start();
    this.scheduled = new Promise<void>((resolve) => setTimeout(resolve, waitMs)).then(() => {
      this.scheduled = undefined;
      return this.start();
    });
    return this.scheduled;
  }

  private start(): Promise<T> {
    const startedMs = this.now();
    const running = this.render().finally(() => {
      this.lastEndMs = this.now();
      this.lastTookMs = this.lastEndMs - startedMs;
      this.running = undefined;
    });
    this.running = running;
    return running;
  }
}
