import type { Clock } from '../common/clock';
import { BatchQueue, type Batch } from './batch-queue';
import type { PostOutcome } from './http-post';
import type { RemoteWriteObserver } from './remote-write.metrics';
import { backoffMs, judge } from './retry-policy';
import { encodeWriteRequest, type SeriesSample } from './write-request';

/** Waits `ms`, or less if `wake` is aborted first; never rejects. */
export type Sleep = (ms: number, wake: AbortSignal) => Promise<void>;

export interface RemoteWriterLog {
  warn(fields: Record<string, unknown>, message: string): void;
}

export interface RemoteWriterOptions {
  batchSamples: number;
  queueSamples: number;
  minBackoffMs: number;
  maxBackoffMs: number;
  timeoutMs: number;
}

export interface RemoteWriterParts {
  /** Every series' current value. */
  collect(): Promise<SeriesSample[]>;
  /** Sends one encoded write request, giving up after `timeoutMs`. */
  post(body: Buffer, timeoutMs: number): Promise<PostOutcome>;
  clock: Clock;
  sleep: Sleep;
  observer: RemoteWriteObserver;
  log: RemoteWriterLog;
}

/** Refusals and retries are logged at most this often (a down receiver fails every batch). */
const LOG_EVERY_MS = 10_000;

/**
 * Takes snapshots of every series into a bounded queue of encoded batches and sends them, oldest
 * first, one request at a time (so each series' samples arrive in time order). Retryable failures
 * are retried with exponential backoff, forever until shutdown; refused batches are dropped.
 */
export class RemoteWriter {
  private readonly queue: BatchQueue;
  private inFlight: Batch | undefined;
  private sending: Promise<void> | undefined;
  private collection: Promise<void> | undefined;
  private wake = new AbortController();
  private deadlineMs = Infinity;
  private stopped = false;
  private lastLogMs = -Infinity;

  constructor(
    private readonly options: RemoteWriterOptions,
    private readonly parts: RemoteWriterParts,
  ) {
    this.queue = new BatchQueue(options.queueSamples);
  }

  /** Samples queued or being sent. */
  get queuedSamples(): number {
    return this.queue.samples + (this.inFlight?.samples ?? 0);
  }

  /** Queues a snapshot of every series (skipped while the previous one is still being encoded). */
  snapshot(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.collection ??= this.collectAndQueue().finally(() => {
      this.collection = undefined;
    });
    return this.collection;
  }

  private async collectAndQueue(): Promise<void> {
    const timestampMs = this.parts.clock.now();
    const series = await this.parts.collect();
    const { batchSamples } = this.options;
    for (let from = 0; from < series.length; from += batchSamples) {
      const chunk = series.slice(from, from + batchSamples);
      const body = await encodeWriteRequest(chunk, timestampMs);
      const dropped = this.queue.push({ body, samples: chunk.length });
      if (dropped > 0) this.parts.observer.dropped('queue_full', dropped);
      this.kick();
    }
  }

  /**
   * The last snapshot and everything queued, sent until `deadlineMs` (clock time); what is left then
   * is dropped and counted. No snapshot is taken afterwards.
   */
  async flush(deadlineMs: number): Promise<void> {
    this.deadlineMs = deadlineMs;
    this.wakeUp(); // a retry waiting past the deadline is tried now instead
    await this.collection; // begun before the last reports were counted: one more follows
    await this.snapshot();
    this.stopped = true;
    while (this.sending) await this.sending;
    const left = this.queue.clear();
    if (left > 0) this.parts.observer.dropped('shutdown', left);
  }

  /** Stops at once: a waiting retry is abandoned, queued samples are dropped. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.deadlineMs = -Infinity;
    this.wakeUp();
    while (this.sending) await this.sending;
    const left = this.queue.clear();
    if (left > 0) this.parts.observer.dropped('shutdown', left);
  }

  /** Resolves when the queue is empty and nothing is being sent (for tests and benchmarks). */
  async idle(): Promise<void> {
    while (this.sending) await this.sending;
  }

  /** Starts a sender unless one runs; a batch queued as the last one finished gets a new one. */
  private kick(): void {
    if (this.sending || this.queue.length === 0) return;
    this.sending = this.drain().finally(() => {
      this.sending = undefined;
      this.kick();
    });
  }

  private wakeUp(): void {
    this.wake.abort();
    this.wake = new AbortController();
  }

  private async drain(): Promise<void> {
    for (let batch = this.queue.shift(); batch; batch = this.queue.shift()) {
      this.inFlight = batch;
      const delivered = await this.deliver(batch);
      this.inFlight = undefined;
      if (!delivered) {
        // Past the deadline, or a retry would end past it: the flush is over, the rest goes too.
        this.deadlineMs = -Infinity;
        this.parts.observer.dropped('shutdown', batch.samples);
        return;
      }
    }
  }

  /** Sends `batch` until it is acknowledged or refused (true), or the deadline passes (false). */
  private async deliver(batch: Batch): Promise<boolean> {
    const { observer, clock } = this.parts;
    for (let failures = 0; ;) {
      const left = this.deadlineMs - clock.now();
      if (left <= 0) return false;
      const outcome = await this.parts.post(batch.body, Math.min(this.options.timeoutMs, left));
      observer.request(outcome.kind === 'response' ? String(outcome.status) : 'error');
      const verdict = judge(outcome, clock.now());
      if (verdict.action === 'done') {
        observer.sent(batch.samples, clock.now());
        return true;
      }
      if (verdict.action === 'drop') {
        observer.failed(batch.samples);
        this.logRarely(
          { samples: batch.samples, reason: verdict.reason },
          'remote write: batch refused, dropped',
        );
        return true;
      }
      failures++;
      const backoff = backoffMs(failures, this.options.minBackoffMs, this.options.maxBackoffMs);
      const waitMs = Math.max(backoff, verdict.retryAfterMs ?? 0);
      this.logRarely(
        { samples: batch.samples, reason: verdict.reason, retryInMs: waitMs },
        'remote write: batch failed, retrying',
      );
      if (clock.now() + waitMs >= this.deadlineMs) return false;
      observer.retried(batch.samples);
      await this.parts.sleep(waitMs, this.wake.signal);
    }
  }

  private logRarely(fields: Record<string, unknown>, message: string): void {
    const now = this.parts.clock.now();
    if (now - this.lastLogMs < LOG_EVERY_MS) return;
    this.lastLogMs = now;
    this.parts.log.warn(fields, message);
  }
}
