import { LogLevel } from './abi';
import { StreamContextState, type MapAccess } from './contexts';
import { HeaderMap, type HeaderPairs } from './header-map';
import { invalidHeader } from './header-validation';
import type { StreamLimits } from './stream-limits';

export { DEFAULT_STREAM_LIMITS, type StreamLimits } from './stream-limits';
import type { FailStrategy } from './types';
import type { Vm } from './vm';
import type { StreamProperties } from './istio/stream-properties';

/** Where a stream's output goes: the upstream (request) and the downstream client (response). */
export interface StreamSink {
  /** Request headers, pseudo-headers included, as the plugin left them. */
  upstreamHeaders(headers: HeaderPairs, endOfStream: boolean): void | Promise<void>;
  upstreamData(chunk: Buffer, endOfStream: boolean): void | Promise<void>;
  upstreamTrailers(trailers: HeaderPairs): void | Promise<void>;
  /** The request will not be completed (local reply, reset, failure): drop it. */
  upstreamCancel(): void;
  /** Response headers with `:status`. */
  downstreamHeaders(headers: HeaderPairs, endOfStream: boolean): void | Promise<void>;
  downstreamData(chunk: Buffer, endOfStream: boolean): void | Promise<void>;
  downstreamTrailers(trailers: HeaderPairs): void | Promise<void>;
  /** Abort the client's stream (a real proxy resets the connection). */
  downstreamReset(): void;
}

export interface StreamEnd {
  /** The host or the plugin answered instead of the upstream. */
  localReply: boolean;
  /** The stream was reset (proxy_close_stream, a failure after headers were sent, a timeout). */
  reset: boolean;
  /** Why, as Envoy's response code details say it (empty when the upstream answered). */
  details: string;
}

/** What a driver feeds a stream with, as the traffic arrives (HttpStream, or a plain pass-through). */
export interface StreamInput {
  requestHeaders(headers: HeaderPairs, endOfStream: boolean): void;
  requestData(chunk: Buffer, endOfStream: boolean): void;
  requestTrailers(trailers: HeaderPairs): void;
  responseHeaders(headers: HeaderPairs, endOfStream: boolean): void;
  responseData(chunk: Buffer, endOfStream: boolean): void;
  responseTrailers(trailers: HeaderPairs): void;
  upstreamFailed(status?: number, body?: string, details?: string): void;
  downstreamClosed(): void;
  /** Replaces the stream's Istio properties (the peer, flags, ...) as the driver learns them. */
  setProperties(properties: StreamProperties): void;
  /** False while a buffer limit of input waits: the driver should stop reading until onDrain. */
  readonly writable: boolean;
  onDrain: (() => void) | undefined;
  readonly done: Promise<StreamEnd>;
}

/** FilterDataStatus values (proxy-wasm ABI): what a body callback's answer means. */
const DATA_CONTINUE = 0;
const DATA_STOP_NO_BUFFER = 3;

type Side = 'request' | 'response';
type Interrupt = 'none' | 'local' | 'reset' | 'failed' | 'aborted';

interface DirectionState {
  /** Body held for the plugin (StopIterationAndBuffer); what buffer 0/1 shows. */
  buffered: Buffer | undefined;
  /** Headers processed by the plugin, held until the first body bytes go out (to frame them). */
  pendingHeaders: HeaderPairs | undefined;
  headersSent: boolean;
  ended: boolean;
  /** The plugin changed a body chunk, so a content-length from the peer no longer holds. */
  bodyChanged: boolean;
  /** Body bytes seen from the peer so far (request.size / response.size). */
  received: number;
  /** Body bytes sent on, and the content-length the headers that went out declared. */
  sent: number;
  declaredLength: number | undefined;
  /**
   * The headers callback paused (StopIteration): the headers wait for proxy_continue_stream, while body
   * callbacks still run (Envoy's filter manager); a body callback answering Continue also resumes them.
   */
  headersPaused: boolean;
  /** The paused headers ended the stream (no body follows). */
  headersEos: boolean;
  /** The peer's body is complete (its end_of_stream was seen) though parts may still be held. */
  dataEnded: boolean;
}

const newDirection = (): DirectionState => ({
  buffered: undefined,
  pendingHeaders: undefined,
  headersSent: false,
  ended: false,
  bodyChanged: false,
  received: 0,
  sent: 0,
  declaredLength: undefined,
  headersPaused: false,
  headersEos: false,
  dataEnded: false,
});

const UPSTREAM_FAILURE =
  'upstream connect error or disconnect/reset before headers. reset reason: connection failure';

/** A reply the proxy itself makes (local reply, upstream failure, fail-closed), Envoy-shaped. */
export function localReplyHeaders(
  status: number,
  body: Buffer,
  extra: ReadonlyArray<readonly [string, string]> = [],
): HeaderPairs {
  const headers = new HeaderMap([[':status', String(status)]]);
  if (body.length > 0) headers.add('content-type', 'text/plain');
  for (const [k, v] of extra) headers.replace(k, v);
  headers.replace('content-length', String(body.length));
  return headers.pairs;
}

/**
 * One HTTP stream through one VM, driven the way Envoy's HTTP filter chain drives a Wasm filter: events
 * arrive as the peer sends them (headers, each body chunk, trailers, in both directions) and each calls
 * the plugin once, with Envoy's meaning for every answer:
 * - headers: non-zero pauses until proxy_continue_stream (or a local reply / close);
 * - body: Continue sends what is buffered plus this chunk on; StopIterationAndBuffer (1) and
 *   StopIterationAndWatermark (2) keep it and show the accumulated body (body_size) next time;
 *   StopIterationNoBuffer (3) drops the chunk; at end_of_stream any stop waits for continue;
 * - buffering past `bufferLimitBytes` answers 413 (request) or 500 (response), as Envoy's filter
 *   manager does.
 * Output goes to a StreamSink. on_done, on_log, on_delete run exactly once whatever ends the stream.
 */
export class HttpStream implements StreamInput {
  private readonly queue: Array<() => Promise<void>> = [];
  private queuedBytes = 0;
  private draining = false;
  private readonly request = newDirection();
  private readonly response = newDirection();
  /** The plugin is out of the way: its VM failed under FAIL_OPEN (or could not create the context). */
  private passThrough: boolean;
  /** Upstream events no longer matter (a local reply answers instead). */
  private ignoreUpstream = false;
  private finished = false;
  private aborted = false;
  private idleTimer: NodeJS.Timeout | undefined;
  /** A plugin callback of this stream is running (its own resumes are handled when it returns). */
  private inCallback = false;
  private readonly end: StreamEnd = { localReply: false, reset: false, details: '' };
  private resolveDone!: (end: StreamEnd) => void;
  /** Resolves after on_delete, with how the stream ended. */
  readonly done: Promise<StreamEnd>;
  /** Called when queued input falls below the high-water mark (the driver may read again). */
  onDrain: (() => void) | undefined;

  constructor(
    private readonly vm: Vm,
    private readonly ctx: StreamContextState | undefined,
    private readonly sink: StreamSink,
    private readonly failStrategy: FailStrategy,
    private readonly limits: StreamLimits,
  ) {
    this.passThrough = ctx === undefined;
    if (ctx) ctx.onUnpausedResume = () => this.onUnpausedResume();
    this.done = new Promise((resolve) => {
      this.resolveDone = resolve;
    });
    this.touch();
  }

  /** True while less than one buffer limit of input waits; the driver should stop reading otherwise. */
  get writable(): boolean {
    return this.queuedBytes < this.limits.bufferLimitBytes;
  }

  get isFinished(): boolean {
    return this.finished;
  }

  // ---- input ------------------------------------------------------------------------------------

  requestHeaders(headers: HeaderPairs, endOfStream: boolean): void {
    this.enqueue(0, () => this.onRequestHeaders(headers, endOfStream));
  }

  requestData(chunk: Buffer, endOfStream: boolean): void {
    this.enqueue(chunk.length, () => this.onData('request', chunk, endOfStream));
  }

  requestTrailers(trailers: HeaderPairs): void {
    this.enqueue(0, () => this.onTrailers('request', trailers));
  }

  responseHeaders(headers: HeaderPairs, endOfStream: boolean): void {
    this.enqueue(0, () =>
      this.ignoreUpstream ? noop() : this.onResponseHeaders(headers, endOfStream),
    );
  }

  responseData(chunk: Buffer, endOfStream: boolean): void {
    this.enqueue(chunk.length, () =>
      this.ignoreUpstream ? noop() : this.onData('response', chunk, endOfStream),
    );
  }

  responseTrailers(trailers: HeaderPairs): void {
    this.enqueue(0, () => (this.ignoreUpstream ? noop() : this.onTrailers('response', trailers)));
  }

  /** The upstream could not be reached or timed out: the host answers (503/504) unless it already did. */
  upstreamFailed(
    status = 503,
    body = UPSTREAM_FAILURE,
    details = 'upstream_reset_before_response_started',
  ): void {
    this.enqueue(0, async () => {
      if (this.ignoreUpstream) return;
      if (this.response.headersSent) return this.resetStream(details);
      this.ignoreUpstream = true;
      await this.respondLocally(status, Buffer.from(body), [], details, true);
    });
  }

  setProperties(properties: StreamProperties): void {
    if (this.ctx) this.ctx.streamProperties = properties;
  }

  /** The client went away: the stream ends now, paused or not (on_done, on_log, on_delete run). */
  downstreamClosed(): void {
    if (this.finished) return;
    this.aborted = true;
    this.end.reset = true;
    this.end.details ||= 'downstream_remote_disconnect';
    this.queue.length = 0;
    this.queuedBytes = 0;
    this.sink.upstreamCancel();
    this.ctx?.resume();
    if (!this.draining) void this.finish();
  }

  // ---- event loop -------------------------------------------------------------------------------

  private enqueue(bytes: number, work: () => Promise<void>): void {
    if (this.finished || this.aborted) return;
    this.queuedBytes += bytes;
    this.queue.push(async () => {
      this.queuedBytes -= bytes;
      await work();
    });
    if (!this.draining) void this.drain();
  }

  private async drain(): Promise<void> {
    this.draining = true;
    try {
      while (this.queue.length > 0 && !this.finished) {
        const next = this.queue.shift()!;
        const wasWritable = this.writable;
        this.touch();
        try {
          await next();
        } catch (err) {
          this.vm.env.hostLog(this.vm.index, LogLevel.ERROR, `stream failed: ${String(err)}`);
          this.resetStream('internal_error');
        }
        if (!wasWritable && this.writable) this.onDrain?.();
        if (this.aborted) break;
      }
    } finally {
      this.draining = false;
    }
    if (this.aborted && !this.finished) await this.finish();
  }

  private touch(): void {
    if (this.limits.idleTimeoutMs <= 0 || this.finished) return;
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.onIdleTimeout(), this.limits.idleTimeoutMs);
    this.idleTimer.unref();
  }

  /** Envoy's stream idle timeout: 408 before response headers went out, else a reset. */
  private onIdleTimeout(): void {
    if (this.finished) return;
    this.vm.env.hostLog(
      this.vm.index,
      LogLevel.INFO,
      `stream idle for ${this.limits.idleTimeoutMs} ms: ending it`,
    );
    const ctx = this.ctx;
    this.queue.length = 0;
    this.queuedBytes = 0;
    this.sink.upstreamCancel();
    this.ignoreUpstream = true;
    if (this.response.headersSent) {
      this.resetStream('stream_idle_timeout');
    } else {
      this.passThrough = true; // the timeout reply does not go through the plugin
      this.enqueue(0, () =>
        this.respondLocally(408, Buffer.from('stream timeout'), [], 'stream_idle_timeout', false),
      );
    }
    ctx?.resume();
  }

  // ---- plugin calls -----------------------------------------------------------------------------

  private get pluginActive(): boolean {
    return !this.passThrough && this.ctx !== undefined && !this.vm.failed;
  }

  /** What stopped the plugin's normal flow, if anything. */
  private interrupt(): Interrupt {
    const ctx = this.ctx;
    if (this.aborted) return 'aborted';
    if (this.vm.failed && !this.passThrough) return 'failed';
    if (!ctx) return 'none';
    if (ctx.reset) return 'reset';
    if (ctx.localReply) return 'local';
    return 'none';
  }

  /**
   * Calls a stream callback; answers its return value, 'stop' when the stream was interrupted (trap,
   * local reply, close, abort) and the interruption has been handled, or 'open' when the VM failed under
   * FAIL_OPEN and the stream goes on without the plugin.
   */
  private async invoke(name: string, args: number[]): Promise<number | 'stop' | 'open'> {
    const ctx = this.ctx!;
    ctx.continued = false;
    this.inCallback = true;
    let r;
    try {
      r = this.vm.call(name, ctx, [ctx.id, ...args]);
    } finally {
      this.inCallback = false;
    }
    if (!r.ok || this.interrupt() !== 'none') return this.handleInterrupt();
    return r.value;
  }

  /** Waits for proxy_continue_stream unless it came already; else like invoke's 'stop' / 'open'. */
  private async waitForContinue(): Promise<'go' | 'stop' | 'open'> {
    const ctx = this.ctx!;
    if (!ctx.continued) await ctx.paused();
    if (this.interrupt() !== 'none') return this.handleInterrupt();
    return this.finished ? 'stop' : 'go';
  }

  /** A header or trailer callback: a non-zero answer pauses until continue. */
  private async headerCallback(name: string, args: number[]): Promise<'go' | 'stop' | 'open'> {
    const r = await this.invoke(name, args);
    if (typeof r !== 'number') return r;
    return r === 0 ? 'go' : this.waitForContinue();
  }

  /** Something resumed the stream outside a pause (a local reply or close from a callout, a trap). */
  private onUnpausedResume(): void {
    if (this.inCallback || this.finished) return;
    if (this.interrupt() !== 'none') {
      this.enqueue(0, async () => {
        if (this.interrupt() !== 'none') await this.handleInterrupt();
      });
      return;
    }
    const side: Side = this.ctx?.phase === 'response' ? 'response' : 'request';
    if (this.dir(side).headersPaused) this.enqueue(0, () => this.resumeHeaders(side));
  }

  /** proxy_continue_stream for paused headers: they (and a complete held body) go on. */
  private async resumeHeaders(side: Side): Promise<void> {
    const dir = this.dir(side);
    if (!dir.headersPaused || this.finished) return;
    this.unpauseHeaders(side);
    if (dir.headersEos) {
      const headers = dir.pendingHeaders!;
      dir.pendingHeaders = undefined;
      dir.ended = true;
      await this.emitHeaders(side, headers, true);
      if (side === 'response') await this.finish();
      return;
    }
    if (dir.buffered && dir.dataEnded) {
      const held = dir.buffered;
      dir.buffered = undefined;
      await this.emitData(side, held, true);
    }
  }

  /** Paused headers become pending ones (as the plugin left them), ready to go out with the body. */
  private unpauseHeaders(side: Side): void {
    const dir = this.dir(side);
    if (!dir.headersPaused || !this.ctx) return;
    dir.headersPaused = false;
    const key = side === 'request' ? 'requestHeaders' : 'responseHeaders';
    this.lend(key, 'none');
    const map = side === 'request' ? this.ctx.requestHeaders : this.ctx.responseHeaders;
    dir.pendingHeaders = map?.copy() ?? [];
  }

  private async handleInterrupt(): Promise<'stop' | 'open'> {
    const ctx = this.ctx!;
    switch (this.interrupt()) {
      case 'aborted':
        return 'stop';
      case 'reset':
        ctx.localReply = undefined;
        this.resetStream(ctx.responseCodeDetails || 'wasm_close_stream');
        return 'stop';
      case 'failed':
        this.passThrough = true;
        if (this.failStrategy === 'FAIL_OPEN') return 'open';
        this.sink.upstreamCancel();
        this.ignoreUpstream = true;
        if (this.response.headersSent) this.resetStream('wasm_fail_stream');
        else await this.respondLocally(503, Buffer.alloc(0), [], 'wasm_fail_stream', false);
        return 'stop';
      case 'local': {
        const reply = ctx.localReply!;
        ctx.localReply = undefined;
        this.sink.upstreamCancel();
        this.ignoreUpstream = true;
        if (this.response.headersSent) {
          this.resetStream(reply.details);
          return 'stop';
        }
        // Sent from the request path, the reply passes the response callbacks, as Envoy's encoder
        // filters see it; sent from the response path it replaces the response as it is.
        const throughPlugin = ctx.phase === 'request';
        await this.respondLocally(
          reply.status,
          reply.body,
          reply.headers,
          reply.details,
          throughPlugin,
        );
        return 'stop';
      }
      default:
        return 'stop';
    }
  }

  /** Lends a map to the plugin for one callback (and the pause after it), as Envoy sets its pointer. */
  private lend(key: keyof StreamContextState['access'], access: MapAccess): void {
    if (this.ctx) this.ctx.access[key] = access;
  }

  // ---- request path -----------------------------------------------------------------------------

  private async onRequestHeaders(headers: HeaderPairs, endOfStream: boolean): Promise<void> {
    const ctx = this.ctx;
    if (!ctx && this.failStrategy === 'FAIL_CLOSE') {
      // The VM failed (or could not create the context): Envoy's fail-closed filter answers 503.
      this.ignoreUpstream = true;
      return this.respondLocally(503, Buffer.alloc(0), [], 'wasm_fail_stream', false);
    }
    let out = headers;
    if (ctx) ctx.requestHeaders.setAll(headers);
    if (this.pluginActive && ctx) {
      this.lend('requestHeaders', 'write');
      const args = [ctx.requestHeaders.size, endOfStream ? 1 : 0];
      const r = await this.invoke('proxy_on_request_headers', args);
      if (r === 'stop') return;
      if (typeof r === 'number' && r !== 0 && !ctx.continued) {
        // Paused: the map stays lent until the plugin continues.
        this.request.headersPaused = true;
        this.request.headersEos = endOfStream;
        return;
      }
      this.lend('requestHeaders', 'none');
      // FAIL_OPEN after a trap: the request goes on as the client sent it.
      out = r === 'open' ? headers : ctx.requestHeaders.copy();
    }
    if (this.finished || this.ignoreUpstream) return;
    if (endOfStream) {
      this.request.ended = true;
      await this.emitHeaders('request', out, true);
    } else {
      this.request.pendingHeaders = out;
    }
  }

  private async onResponseHeaders(headers: HeaderPairs, endOfStream: boolean): Promise<void> {
    const ctx = this.ctx;
    let out = headers;
    if (ctx) {
      ctx.phase = 'response';
      ctx.responseHeaders = new HeaderMap(headers);
    }
    if (this.pluginActive && ctx?.responseHeaders) {
      this.lend('responseHeaders', 'write');
      const args = [ctx.responseHeaders.size, endOfStream ? 1 : 0];
      const r = await this.invoke('proxy_on_response_headers', args);
      if (r === 'stop') return;
      if (typeof r === 'number' && r !== 0 && !ctx.continued) {
        this.response.headersPaused = true;
        this.response.headersEos = endOfStream;
        return;
      }
      this.lend('responseHeaders', 'none');
      out = r === 'open' ? headers : ctx.responseHeaders.copy();
    }
    if (this.finished) return;
    if (endOfStream) {
      this.response.ended = true;
      await this.emitHeaders('response', out, true);
      await this.finish();
    } else {
      this.response.pendingHeaders = out;
    }
  }

  // ---- bodies -----------------------------------------------------------------------------------

  private async onData(side: Side, chunk: Buffer, endOfStream: boolean): Promise<void> {
    const dir = this.dir(side);
    if (this.finished || dir.ended) return;
    dir.received += chunk.length;
    if (endOfStream) dir.dataEnded = true;
    const ctx = this.ctx;
    if (ctx) {
      if (side === 'request') ctx.requestBodyBytes = dir.received;
      else ctx.responseBodyBytes = dir.received;
    }
    const body = dir.buffered ? Buffer.concat([dir.buffered, chunk]) : chunk;
    if (!this.pluginActive || !ctx) {
      dir.buffered = undefined;
      return this.emitData(side, body, endOfStream);
    }
    this.setLiveBody(side, body);
    const name = side === 'request' ? 'proxy_on_request_body' : 'proxy_on_response_body';
    const r = await this.invoke(name, [body.length, endOfStream ? 1 : 0]);
    if (typeof r !== 'number') {
      ctx.liveBody = undefined;
      if (r === 'stop') return;
      // FAIL_OPEN: the rest of the stream passes untouched.
      dir.buffered = undefined;
      return this.emitData(side, body, endOfStream);
    }
    let out = this.takeLiveBody(side, body);
    if (r === DATA_CONTINUE || ctx.continued) {
      ctx.liveBody = undefined;
      dir.buffered = undefined;
      return this.emitData(side, out, endOfStream);
    }
    if (r === DATA_STOP_NO_BUFFER) {
      out = Buffer.alloc(0);
      dir.buffered = undefined;
    } else {
      dir.buffered = out;
      if (out.length > this.limits.bufferLimitBytes) {
        ctx.liveBody = undefined;
        return this.bufferOverflow(side);
      }
    }
    if (!endOfStream) {
      ctx.liveBody = undefined;
      return;
    }
    // End of stream under a stop: wait for continue, with the buffer still reachable (e.g. from an http
    // call answer after proxy_set_effective_context).
    const o = await this.waitForContinue();
    if (o === 'go' && dir.buffered) out = this.takeLiveBody(side, out);
    ctx.liveBody = undefined;
    if (o === 'stop') return;
    dir.buffered = undefined;
    return this.emitData(side, out, true);
  }

  private setLiveBody(side: Side, body: Buffer): void {
    const ctx = this.ctx!;
    ctx.liveBody = side;
    if (side === 'request') ctx.requestBody = body;
    else ctx.responseBody = body;
  }

  /** The live body after the plugin ran; notes whether it changed. */
  private takeLiveBody(side: Side, before: Buffer): Buffer {
    const ctx = this.ctx!;
    const after = (side === 'request' ? ctx.requestBody : ctx.responseBody) ?? Buffer.alloc(0);
    if (after !== before) this.dir(side).bodyChanged = true;
    return after;
  }

  private async bufferOverflow(side: Side): Promise<void> {
    this.vm.env.hostLog(
      this.vm.index,
      LogLevel.WARN,
      `${side} body buffered past ${this.limits.bufferLimitBytes} bytes`,
    );
    this.sink.upstreamCancel();
    this.ignoreUpstream = true;
    if (side === 'request') {
      return this.respondLocally(
        413,
        Buffer.from('Payload Too Large'),
        [],
        'request_payload_too_large',
        true,
      );
    }
    if (this.response.headersSent) return this.resetStream('response_payload_too_large');
    this.passThrough = true;
    return this.respondLocally(
      500,
      Buffer.from('Internal Server Error'),
      [],
      'response_payload_too_large',
      false,
    );
  }

  private async onTrailers(side: Side, trailers: HeaderPairs): Promise<void> {
    const dir = this.dir(side);
    if (this.finished || dir.ended) return;
    const ctx = this.ctx;
    const key = side === 'request' ? 'requestTrailers' : 'responseTrailers';
    let out = trailers;
    if (ctx) {
      const map = new HeaderMap(trailers);
      if (side === 'request') ctx.requestTrailers = map;
      else ctx.responseTrailers = map;
      if (this.pluginActive) {
        this.lend(key, 'write');
        try {
          const name =
            side === 'request' ? 'proxy_on_request_trailers' : 'proxy_on_response_trailers';
          const o = await this.headerCallback(name, [map.size]);
          if (o === 'stop') return;
          if (o === 'open') map.setAll(trailers);
        } finally {
          this.lend(key, 'none');
        }
      }
      out = map.copy();
    }
    if (this.finished) return;
    this.unpauseHeaders(side);
    if (dir.buffered) {
      const held = dir.buffered;
      dir.buffered = undefined;
      await this.emitData(side, held, false);
    }
    await this.flushHeaders(side, false);
    dir.ended = true;
    if (side === 'request') await this.sink.upstreamTrailers(out);
    else {
      await this.sink.downstreamTrailers(out);
      await this.finish();
    }
  }

  // ---- output -----------------------------------------------------------------------------------

  private dir(side: Side): DirectionState {
    return side === 'request' ? this.request : this.response;
  }

  /**
   * Headers go out with the first body bytes so they can be framed: a body the plugin changed loses a
   * peer's content-length (chunked instead), or gets the exact length when it is complete already.
   */
  private async flushHeaders(side: Side, bodyComplete: boolean, bodyLength = 0): Promise<void> {
    const dir = this.dir(side);
    const headers = dir.pendingHeaders;
    if (!headers) return;
    dir.pendingHeaders = undefined;
    let framed = headers;
    if (dir.bodyChanged) {
      framed = headers.filter(([k]) => k !== 'transfer-encoding');
      const at = framed.findIndex(([k]) => k === 'content-length');
      if (!bodyComplete) framed = framed.filter(([k]) => k !== 'content-length');
      else if (at >= 0) framed[at] = ['content-length', String(bodyLength)];
      else framed.push(['content-length', String(bodyLength)]);
    }
    await this.emitHeaders(side, framed, false);
  }

  private async emitHeaders(side: Side, headers: HeaderPairs, endOfStream: boolean): Promise<void> {
    const dir = this.dir(side);
    const bad = this.passThrough ? undefined : invalidHeader(headers, this.limits.maxHeaderBytes);
    let out = headers;
    if (bad) {
      this.vm.env.hostLog(
        this.vm.index,
        LogLevel.ERROR,
        `plugin produced an invalid ${side} header: ${bad}`,
      );
      if (this.failStrategy === 'FAIL_CLOSE') {
        this.sink.upstreamCancel();
        this.ignoreUpstream = true;
        this.passThrough = true;
        if (side === 'response' && dir.headersSent) return this.resetStream('wasm_fail_stream');
        return this.respondLocally(503, Buffer.alloc(0), [], 'wasm_fail_stream', false);
      }
      out = dropInvalidHeaders(headers, this.limits.maxHeaderBytes);
    }
    dir.headersSent = true;
    const length = out.find(([k]) => k === 'content-length')?.[1];
    dir.declaredLength = length !== undefined && /^\d+$/.test(length) ? Number(length) : undefined;
    if (side === 'request') await this.sink.upstreamHeaders(out, endOfStream);
    else await this.sink.downstreamHeaders(out, endOfStream);
  }

  private async emitData(side: Side, chunk: Buffer, endOfStream: boolean): Promise<void> {
    const dir = this.dir(side);
    if (this.finished) return;
    // Body bytes going on resume paused headers (Envoy: Continue from decodeData continues iteration).
    this.unpauseHeaders(side);
    await this.flushHeaders(side, endOfStream, chunk.length);
    if (this.finished) return;
    if (endOfStream) dir.ended = true;
    if (chunk.length === 0 && !endOfStream) return;
    dir.sent += chunk.length;
    const declared = dir.declaredLength;
    if (declared !== undefined && (dir.sent > declared || (endOfStream && dir.sent !== declared))) {
      // The plugin changed the body after its length went out: it cannot be framed any more.
      this.vm.env.hostLog(
        this.vm.index,
        LogLevel.ERROR,
        `${side} body of ${dir.sent} bytes does not match the content-length ${declared} already sent`,
      );
      return this.resetStream('wasm_body_length_mismatch');
    }
    if (side === 'request') {
      if (!this.ignoreUpstream) await this.sink.upstreamData(chunk, endOfStream);
    } else {
      await this.sink.downstreamData(chunk, endOfStream);
      if (endOfStream) await this.finish();
    }
  }

  /** Answers the client instead of the upstream; `throughPlugin` runs the response callbacks over it. */
  private async respondLocally(
    status: number,
    body: Buffer,
    extra: HeaderPairs,
    details: string,
    throughPlugin: boolean,
  ): Promise<void> {
    this.end.localReply = true;
    this.end.details = details;
    if (this.ctx) this.ctx.responseCodeDetails = details;
    this.request.ended = true;
    this.request.pendingHeaders = undefined;
    this.request.headersPaused = false;
    this.lend('requestHeaders', 'none');
    this.queue.length = 0;
    this.queuedBytes = 0;
    // The reply replaces whatever of the upstream's answer was held.
    Object.assign(this.response, newDirection());
    const headers = localReplyHeaders(status, body, extra);
    if (!throughPlugin) this.passThrough = true;
    await this.onResponseHeaders(headers, body.length === 0);
    if (!this.finished && body.length > 0) await this.onData('response', body, true);
  }

  private resetStream(details: string): void {
    this.end.reset = true;
    this.end.details ||= details;
    this.sink.upstreamCancel();
    this.sink.downstreamReset();
    void this.finish();
  }

  /** Stream end as Envoy runs it: on_done, on_log (maps lent read-only), on_delete; then forgotten. */
  private async finish(): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.idleTimer);
    this.queue.length = 0;
    const { vm, ctx } = this;
    if (ctx) {
      ctx.phase = 'done';
      ctx.liveBody = undefined;
      ctx.resume();
      if (!vm.failed) {
        vm.call('proxy_on_done', ctx, [ctx.id], 1);
        const { access } = ctx;
        access.requestHeaders = access.responseHeaders = access.responseTrailers = 'read';
        vm.call('proxy_on_log', ctx, [ctx.id]);
        access.requestHeaders = access.responseHeaders = access.responseTrailers = 'none';
        vm.call('proxy_on_delete', ctx, [ctx.id]);
      }
      vm.contexts.delete(ctx.id);
    }
    this.resolveDone(this.end);
  }
}

const noop = (): Promise<void> => Promise.resolve();

/** FAIL_OPEN for bad header bytes: the offending entries are left out, the rest goes on. */
function dropInvalidHeaders(headers: HeaderPairs, maxBytes: number): HeaderPairs {
  const out: HeaderPairs = [];
  let bytes = 0;
  for (const pair of headers) {
    if (invalidHeader([pair], maxBytes)) continue;
    bytes += pair[0].length + pair[1].length;
    if (bytes > maxBytes) break;
    out.push(pair);
  }
  return out;
}
