/** An encoded write request waiting to be sent, with the number of samples it carries. */
export interface Batch {
  body: Buffer;
  samples: number;
}

/**
 * Batches waiting to be sent, bounded by the samples they hold. When a new batch does not fit, the
 * oldest are dropped first: every snapshot carries cumulative values, so the newest one alone still
 * has every total and losing an old one only loses resolution.
 */
export class BatchQueue {
  private readonly batches: Batch[] = [];
  private held = 0;

  constructor(private readonly maxSamples: number) {}

  /** Queues `batch`; returns how many samples were dropped to make room (the batch itself, if too big). */
  push(batch: Batch): number {
    if (batch.samples > this.maxSamples) return batch.samples;
    let dropped = 0;
    while (this.held + batch.samples > this.maxSamples) {
      const oldest = this.batches.shift();
      if (oldest === undefined) break;
      this.held -= oldest.samples;
      dropped += oldest.samples;
    }
    this.batches.push(batch);
    this.held += batch.samples;
    return dropped;
  }

  /** Takes the oldest batch out of the queue. */
  shift(): Batch | undefined {
    const batch = this.batches.shift();
    if (batch) this.held -= batch.samples;
    return batch;
  }

  /** Empties the queue; returns the samples it held. */
  clear(): number {
    const samples = this.held;
    this.batches.length = 0;
    this.held = 0;
    return samples;
  }

  get samples(): number {
    return this.held;
  }

  get length(): number {
    return this.batches.length;
  }
}
