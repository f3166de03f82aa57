import type { HeaderPairs } from '../header-map';
import {
  localReplyHeaders,
  type StreamEnd,
  type StreamInput,
  type StreamSink,
} from '../http-stream';

/** Input a plain stream holds for a slow peer before the driver stops reading (one Envoy buffer). */
const QUEUE_LIMIT = 1 << 20;

/** A stream without a plugin (the sidecar's baseline): every event goes straight to the sink, in order. */
export class PlainStream implements StreamInput {
  private chain: Promise<void> = Promise.resolve();
  private finished = false;
  private ignoreUpstream = false;
  private headersSent = false;
  private readonly end: StreamEnd = { localReply: false, reset: false, details: '' };
  private resolveDone!: (end: StreamEnd) => void;
  readonly done = new Promise<StreamEnd>((resolve) => {
    this.resolveDone = resolve;
  });
  /** Bytes handed in but not yet taken by the sink (a slow peer); reading pauses past the limit. */
  private queued = 0;
  onDrain: (() => void) | undefined;

  /** `failClosed`: the stream's VM is gone under FAIL_CLOSE, so the answer is 503 and nothing is forwarded. */
  constructor(
    private readonly sink: StreamSink,
    private readonly failClosed = false,
  ) {}

  get writable(): boolean {
    return this.queued < QUEUE_LIMIT;
  }

  private then(work: () => void | Promise<void>, bytes = 0): void {
    this.queued += bytes;
    this.chain = this.chain
      .then(() => (this.finished ? undefined : work()))
      .finally(() => {
        const wasWritable = this.writable;
        this.queued -= bytes;
        if (!wasWritable && this.writable) this.onDrain?.();
      });
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.resolveDone(this.end);
  }

  requestHeaders(headers: HeaderPairs, endOfStream: boolean): void {
    if (this.failClosed) return this.upstreamFailed(503, '', 'wasm_fail_stream');
    this.then(() => this.sink.upstreamHeaders(headers, endOfStream));
  }

  requestData(chunk: Buffer, endOfStream: boolean): void {
    if (this.failClosed) return;
    this.then(() => this.sink.upstreamData(chunk, endOfStream), chunk.length);
  }

  requestTrailers(trailers: HeaderPairs): void {
    if (this.failClosed) return;
    this.then(() => this.sink.upstreamTrailers(trailers));
  }

  responseHeaders(headers: HeaderPairs, endOfStream: boolean): void {
    this.then(async () => {
      if (this.ignoreUpstream) return;
      this.headersSent = true;
      await this.sink.downstreamHeaders(headers, endOfStream);
      if (endOfStream) this.finish();
    });
  }

  responseData(chunk: Buffer, endOfStream: boolean): void {
    this.then(async () => {
      if (this.ignoreUpstream) return;
      await this.sink.downstreamData(chunk, endOfStream);
      if (endOfStream) this.finish();
    }, chunk.length);
  }

  responseTrailers(trailers: HeaderPairs): void {
    this.then(async () => {
      if (this.ignoreUpstream) return;
      await this.sink.downstreamTrailers(trailers);
      this.finish();
    });
  }

  upstreamFailed(
    status = 503,
    body = 'upstream connect error or disconnect/reset before headers. reset reason: connection failure',
    details = 'upstream_reset_before_response_started',
  ): void {
    this.then(async () => {
      if (this.ignoreUpstream) return;
      this.ignoreUpstream = true;
      if (this.headersSent) {
        this.end.reset = true;
        this.sink.downstreamReset();
        return this.finish();
      }
      this.end.localReply = true;
      this.end.details = details;
      const bytes = Buffer.from(body);
      await this.sink.downstreamHeaders(localReplyHeaders(status, bytes), bytes.length === 0);
      if (bytes.length > 0) await this.sink.downstreamData(bytes, true);
      this.finish();
    });
  }

  /** No plugin reads them. */
  setProperties(): void {}

  downstreamClosed(): void {
    if (this.finished) return;
    this.end.reset = true;
    this.sink.upstreamCancel();
    this.finish();
  }
}
