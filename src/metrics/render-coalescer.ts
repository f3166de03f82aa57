/**
 * Shares one render among every request that arrives while it runs, and spaces renders out: a new
 * one starts no sooner than `minIntervalMs` after the previous one ended, and the requests arriving
 * in between wait for it together. N concurrent (or pipelined) scrapes cost one render, and
 * back-to-back scrapers cannot keep the CPU rendering; a request never gets a render that ended
 * before it arrived.
 */
export class RenderCoalescer<T> {
  private running: Promise<T> | undefined;
  private scheduled: Promise<T> | undefined;
  private lastEndMs = -Infinity;

  constructor(
    private readonly render: () => Promise<T>,
    private readonly minIntervalMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  get(): Promise<T> {
    if (this.running) return this.running;
    if (this.scheduled) return this.scheduled;
    const waitMs = this.lastEndMs + this.minIntervalMs - this.now();
    if (waitMs <= 0) return this.start();
    this.scheduled = new Promise<void>((resolve) => setTimeout(resolve, waitMs)).then(() => {
      this.scheduled = undefined;
      return this.start();
    });
    return this.scheduled;
  }

  private start(): Promise<T> {
    const running = this.render().finally(() => {
      this.lastEndMs = this.now();
      this.running = undefined;
    });
    this.running = running;
    return running;
  }
}
