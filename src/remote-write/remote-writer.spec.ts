import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { waitFor } from '../../test/support/wait-for';
import { HttpPoster } from './http-post';
import { RemoteWriteMetrics } from './remote-write.metrics';
import { RemoteWriter, type RemoteWriterOptions, type Sleep } from './remote-writer';
import { decodeWriteRequest, type SeriesSample, type TimeSeries } from './write-request';

interface Scripted {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

/** A remote-write receiver on loopback that answers from a script (then 204) and keeps what it got. */
class StubReceiver {
  readonly received: Array<{ headers: IncomingHttpHeaders; series: TimeSeries[] }> = [];
  readonly script: Scripted[] = [];
  private server!: Server;
  url = '';

  async start(port = 0): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const next = this.script.shift() ?? { status: 204 };
        if (next.status >= 200 && next.status < 300) {
          this.received.push({
            headers: req.headers,
            series: decodeWriteRequest(Buffer.concat(chunks)),
          });
        }
        res.writeHead(next.status, next.headers).end(next.body ?? '');
      });
    });
    await new Promise<void>((resolve) => this.server.listen(port, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/api/v1/write`;
  }

  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  /** Every (metric name -> value) pair received, in arrival order. */
  values(): Array<[string, number, number]> {
    return this.received.flatMap(({ series }) =>
      series.map((s): [string, number, number] => [
        s.labels.find((l) => l.name === '__name__')?.value ?? '',
        s.samples[0].value,
        s.samples[0].timestamp,
      ]),
    );
  }
}

/** Time by hand: the writer's clock, and its retry waits, which advance the clock when released. */
class HandTime {
  now = 1_800_000_000_000;
  readonly waits: number[] = [];
  private pending: Array<{ ms: number; elapse: () => void }> = [];
  readonly clock = { now: () => this.now };
  readonly sleep: Sleep = (ms, wake) =>
    new Promise((resolve) => {
      this.waits.push(ms);
      const entry = {
        ms,
        elapse: () => {
          this.now += ms;
          done();
        },
      };
      const done = () => {
        this.pending = this.pending.filter((p) => p !== entry);
        resolve();
      };
      this.pending.push(entry);
      wake.addEventListener('abort', done, { once: true });
    });

  /** Waits for the writer to ask for a retry wait, then lets that wait elapse; returns its length. */
  async elapseNextWait(): Promise<number> {
    await waitFor('the writer to schedule a retry', () => this.pending.length > 0);
    const [next] = this.pending;
    next.elapse();
    return next.ms;
  }
}

const series = (prefix: string, n: number, value = 1): SeriesSample[] =>
  Array.from({ length: n }, (_, i) => ({
    labels: [{ name: '__name__', value: `${prefix}_${i}` }],
    value: value + i,
  }));

describe('RemoteWriter against a loopback receiver', () => {
  let receiver: StubReceiver;
  let poster: HttpPoster;
  let time: HandTime;
  let registry: Registry;
  let current: SeriesSample[];
  let writer: RemoteWriter;
  const warnings: string[] = [];

  const options: RemoteWriterOptions = {
    batchSamples: 2,
    queueSamples: 100,
    minBackoffMs: 100,
    maxBackoffMs: 300,
    timeoutMs: 5_000,
  };

  /** A writer with its own registry (which `metric` then reads). */
  function newWriter(overrides: Partial<RemoteWriterOptions> = {}): RemoteWriter {
    registry = new Registry();
    const made: RemoteWriter = new RemoteWriter(
      { ...options, ...overrides },
      {
        collect: () => Promise.resolve(current),
        post: (body, timeoutMs) => poster.post(body, timeoutMs),
        clock: time.clock,
        sleep: time.sleep,
        observer: new RemoteWriteMetrics(registry, () => made.queuedSamples),
        log: { warn: (_fields, message) => warnings.push(message) },
      },
    );
    return made;
  }

  async function metric(name: string, labels: Record<string, string> = {}): Promise<number> {
    const found = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
    const value = found?.values.find((v) =>
      Object.entries(labels).every(
        ([k, want]) => (v.labels as Record<string, unknown>)[k] === want,
      ),
    );
    return value?.value ?? 0;
  }

  beforeEach(async () => {
    receiver = new StubReceiver();
    await receiver.start();
    poster = new HttpPoster({
      url: new URL(receiver.url),
      headers: {
        'Content-Encoding': 'snappy',
        'Content-Type': 'application/x-protobuf',
        'X-Prometheus-Remote-Write-Version': '0.1.0',
        Authorization: 'Bearer test-token',
      },
      timeoutMs: 5_000,
      rejectUnauthorized: true,
    });
    time = new HandTime();
    current = series('m', 5);
    writer = newWriter();
    warnings.length = 0;
  });

  afterEach(async () => {
    await writer.stop();
    poster.close();
    await receiver.stop();
  });

  it('sends a snapshot in batches of REMOTE_WRITE_BATCH_SAMPLES, with the protocol headers', async () => {
    await writer.snapshot();
    await writer.idle();

    expect(receiver.received.map((r) => r.series.length)).toEqual([2, 2, 1]);
    expect(receiver.values()).toEqual(
      [0, 1, 2, 3, 4].map((i) => [`m_${i}`, 1 + i, 1_800_000_000_000]),
    );
    const headers = receiver.received[0].headers;
    expect(headers['content-encoding']).toBe('snappy');
    expect(headers['content-type']).toBe('application/x-protobuf');
    expect(headers['x-prometheus-remote-write-version']).toBe('0.1.0');
    expect(headers.authorization).toBe('Bearer test-token');
    expect(await metric('mesha_remote_write_samples_sent_total')).toBe(5);
    expect(await metric('mesha_remote_write_requests_total', { status_code: '204' })).toBe(3);
    expect(await metric('mesha_remote_write_last_success_timestamp_seconds')).toBe(1_800_000_000);
    expect(await metric('mesha_remote_write_queue_samples')).toBe(0);
    expect(time.waits).toEqual([]);
  });

  it('honours Retry-After on 429, then sends the same batch again', async () => {
    current = series('m', 2);
    receiver.script.push({ status: 429, headers: { 'Retry-After': '7' }, body: 'slow down' });
    const done = writer.snapshot().then(() => writer.idle());

    expect(await time.elapseNextWait()).toBe(7_000); // more than the backoff (100 ms)
    await done;
    expect(receiver.values().map(([name]) => name)).toEqual(['m_0', 'm_1']);
    expect(await metric('mesha_remote_write_requests_total', { status_code: '429' })).toBe(1);
    expect(await metric('mesha_remote_write_samples_retried_total')).toBe(2);
    expect(await metric('mesha_remote_write_samples_sent_total')).toBe(2);
    expect(warnings).toEqual(['remote write: batch failed, retrying']);
  });

  it('backs off exponentially on 5xx, up to REMOTE_WRITE_MAX_BACKOFF_MS, and keeps the order', async () => {
    receiver.script.push({ status: 503 }, { status: 500 }, { status: 502 }, { status: 503 });
    const done = writer.snapshot().then(() => writer.idle());

    const waits = [];
    for (let i = 0; i < 4; i++) waits.push(await time.elapseNextWait());
    await done;
    expect(waits).toEqual([100, 200, 300, 300]);
    expect(receiver.values().map(([name]) => name)).toEqual(['m_0', 'm_1', 'm_2', 'm_3', 'm_4']);
    expect(await metric('mesha_remote_write_samples_retried_total')).toBe(8);
    expect(await metric('mesha_remote_write_samples_failed_total')).toBe(0);
  });

  it('drops a batch the receiver refuses with 4xx, counts it, and goes on without waiting', async () => {
    receiver.script.push({ status: 400, body: 'out of order sample' });
    await writer.snapshot();
    await writer.idle();

    expect(receiver.values().map(([name]) => name)).toEqual(['m_2', 'm_3', 'm_4']);
    expect(await metric('mesha_remote_write_samples_failed_total')).toBe(2);
    expect(await metric('mesha_remote_write_requests_total', { status_code: '400' })).toBe(1);
    expect(time.waits).toEqual([]);
    expect(warnings).toEqual(['remote write: batch refused, dropped']);
  });

  it('retries when there is no answer at all (receiver down), and delivers once it is back', async () => {
    const port = Number(new URL(receiver.url).port);
    await receiver.stop();
    const done = writer.snapshot().then(() => writer.idle());
    expect(await time.elapseNextWait()).toBe(100);
    expect(await metric('mesha_remote_write_requests_total', { status_code: 'error' })).toBe(1);

    receiver = new StubReceiver();
    await receiver.start(port); // back on the same port
    expect(await time.elapseNextWait()).toBe(200);
    await done;
    expect(receiver.values().map(([name]) => name)).toEqual(['m_0', 'm_1', 'm_2', 'm_3', 'm_4']);
    expect(await metric('mesha_remote_write_samples_dropped_total', { reason: 'queue_full' })).toBe(
      0,
    );
  });

  it('keeps at most REMOTE_WRITE_QUEUE_SAMPLES while the receiver fails, dropping the oldest', async () => {
    await writer.stop();
    writer = newWriter({ queueSamples: 4 });
    receiver.script.push({ status: 503 });
    current = series('old', 2);
    const first = writer.snapshot();
    await first;
    await waitFor('the first batch to fail', () => time.waits.length === 1);
    // In flight: old_0, old_1 (2 samples). Three more snapshots of 2 samples each: only 4 fit.
    for (const prefix of ['a', 'b', 'c']) {
      current = series(prefix, 2);
      await writer.snapshot();
    }
    expect(await metric('mesha_remote_write_samples_dropped_total', { reason: 'queue_full' })).toBe(
      2,
    );
    expect(await metric('mesha_remote_write_queue_samples')).toBe(6);

    await time.elapseNextWait();
    await writer.idle();
    expect(receiver.values().map(([name]) => name)).toEqual([
      'old_0',
      'old_1',
      'b_0',
      'b_1',
      'c_0',
      'c_1',
    ]);
    expect(await metric('mesha_remote_write_samples_sent_total')).toBe(6);
  });

  it('flush: sends a last snapshot and the queue, and drops what is left at the deadline', async () => {
    // Healthy receiver: the final snapshot goes out.
    await writer.flush(time.now + 1_000);
    expect(receiver.values()).toHaveLength(5);

    // Failing receiver: retries stop before the deadline, the rest is counted as dropped.
    const failing = newWriter();
    receiver.script.push(...Array.from({ length: 10 }, () => ({ status: 503 })));
    const flushed = failing.flush(time.now + 250);
    expect(await time.elapseNextWait()).toBe(100);
    await flushed; // the second wait (200 ms) would pass the deadline
    expect(time.waits).toEqual([100]);
    expect(await metric('mesha_remote_write_samples_dropped_total', { reason: 'shutdown' })).toBe(
      5,
    );
    expect(receiver.values()).toHaveLength(5);
    await failing.snapshot(); // nothing is taken after the flush
    expect(failing.queuedSamples).toBe(0);
  });
});
