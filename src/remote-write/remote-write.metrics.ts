import { Counter, Gauge, type Registry } from 'prom-client';

/** Why queued samples were thrown away without being sent. */
export type DropReason = 'queue_full' | 'shutdown';

/** What the remote writer reports about itself; RemoteWriteMetrics puts it on /metrics. */
export interface RemoteWriteObserver {
  /** The receiver acknowledged `samples` (2xx). */
  sent(samples: number, nowMs: number): void;
  /** The receiver refused `samples` for good (4xx other than 429): they are discarded. */
  failed(samples: number): void;
  /** `samples` are sent again after a 5xx, a 429 or no answer. */
  retried(samples: number): void;
  dropped(reason: DropReason, samples: number): void;
  /** One write request's result: its status code, or `error` when there was no answer. */
  request(status: string): void;
}

/** mesha_remote_write_* self-metrics (fixed label sets, so not capped). */
export class RemoteWriteMetrics implements RemoteWriteObserver {
  private readonly sentTotal: Counter;
  private readonly failedTotal: Counter;
  private readonly retriedTotal: Counter;
  private readonly droppedTotal: Counter<'reason'>;
  private readonly requests: Counter<'status_code'>;
  private readonly lastSuccess: Gauge;

  constructor(registry: Registry, queuedSamples: () => number) {
    const registers = [registry];
    this.sentTotal = new Counter({
      name: 'mesha_remote_write_samples_sent_total',
      help: 'Samples the remote-write receiver acknowledged',
      registers,
    });
    this.failedTotal = new Counter({
      name: 'mesha_remote_write_samples_failed_total',
      help: 'Samples the receiver refused for good (4xx other than 429) and that were discarded',
      registers,
    });
    this.retriedTotal = new Counter({
      name: 'mesha_remote_write_samples_retried_total',
      help: 'Samples sent again after a 5xx, a 429 or no answer',
      registers,
    });
    this.droppedTotal = new Counter({
      name: 'mesha_remote_write_samples_dropped_total',
      help: 'Samples discarded unsent: queue_full (the oldest go first), shutdown (left at the end of the final flush)',
      labelNames: ['reason'],
      registers,
    });
    for (const reason of ['queue_full', 'shutdown'] as const) this.droppedTotal.inc({ reason }, 0);
    this.requests = new Counter({
      name: 'mesha_remote_write_requests_total',
      help: 'Write requests by the status code answered (error: no answer, or a timeout)',
      labelNames: ['status_code'],
      registers,
    });
    this.lastSuccess = new Gauge({
      name: 'mesha_remote_write_last_success_timestamp_seconds',
      help: 'When the receiver last acknowledged a write request (Unix time, seconds; 0 = never)',
      registers,
    });
    new Gauge({
      name: 'mesha_remote_write_queue_samples',
      help: 'Samples waiting to be sent (the batch being sent included)',
      registers,
      collect() {
        this.set(queuedSamples());
      },
    });
  }

  sent(samples: number, nowMs: number): void {
    this.sentTotal.inc(samples);
    this.lastSuccess.set(nowMs / 1000);
  }

  failed(samples: number): void {
    this.failedTotal.inc(samples);
  }

  retried(samples: number): void {
    this.retriedTotal.inc(samples);
  }

  dropped(reason: DropReason, samples: number): void {
    this.droppedTotal.inc({ reason }, samples);
  }

  request(status: string): void {
    this.requests.inc({ status_code: status });
  }
}
