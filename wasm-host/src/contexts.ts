import { HeaderMap } from './header-map';
import type { StreamProperties } from './istio/stream-properties';

export type StreamPhase = 'request' | 'response' | 'done';

/**
 * How the plugin may reach one HTTP map now. Envoy's context holds a pointer per map that it sets when
 * the map's callback starts and clears when the filter continues; during proxy_on_log it lends the
 * stream's request/response headers and response trailers read-only.
 */
export type MapAccess = 'none' | 'read' | 'write';

export interface StreamMapAccess {
  requestHeaders: MapAccess;
  requestTrailers: MapAccess;
  responseHeaders: MapAccess;
  responseTrailers: MapAccess;
}

/** What every context (root or stream) carries. */
export abstract class ContextState {
  /** Values the plugin stored with proxy_set_property, by \0-joined path. */
  readonly properties = new Map<string, Buffer>();
  constructor(readonly id: number) {}
  abstract readonly isRoot: boolean;
}

export class RootContextState extends ContextState {
  readonly isRoot = true;
  /** proxy_done() was called (shutdown waits for it when proxy_on_done returned false). */
  doneCalled = false;
  onDoneCalled?: () => void;
}

export interface LocalReply {
  status: number;
  details: string;
  body: Buffer;
  headers: Array<[string, string]>;
  grpcStatus: number;
}

export class StreamContextState extends ContextState {
  readonly isRoot = false;
  readonly startedAtNs: bigint;
  phase: StreamPhase = 'request';
  requestHeaders = new HeaderMap();
  requestBody: Buffer | undefined;
  requestTrailers: HeaderMap | undefined;
  responseHeaders: HeaderMap | undefined;
  responseBody: Buffer | undefined;
  responseTrailers: HeaderMap | undefined;
  readonly access: StreamMapAccess = {
    requestHeaders: 'none',
    requestTrailers: 'none',
    responseHeaders: 'none',
    responseTrailers: 'none',
  };
  /** Which body buffer is live (available through get/set_buffer_bytes) right now. */
  liveBody: 'request' | 'response' | undefined;
  localReply: LocalReply | undefined;
  localReplyCount = 0;
  reset = false;
  responseCodeDetails = '';
  /** Per-stream Istio properties (StreamOptions.properties). */
  streamProperties: StreamProperties | undefined;
  /** Set when the plugin continued during the callback that then returned PAUSE. */
  continued = false;
  /** Body bytes received so far in each direction (request.size, response.size). */
  requestBodyBytes = 0;
  responseBodyBytes = 0;
  /** Resolves a pending pause (continue, local reply, close, or VM failure). */
  private waiter: (() => void) | undefined;
  /** Told when something resumes the stream while it is not paused (e.g. a local reply from a callout). */
  onUnpausedResume: (() => void) | undefined;

  constructor(
    id: number,
    readonly rootId: number,
    startedAtNs: bigint,
    readonly sourceAddress: string,
    readonly destinationAddress: string,
  ) {
    super(id);
    this.startedAtNs = startedAtNs;
  }

  /** Resolves once something resumes the stream. */
  paused(): Promise<void> {
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }

  resume(): void {
    this.continued = true;
    const waiter = this.waiter;
    this.waiter = undefined;
    if (waiter) waiter();
    else this.onUnpausedResume?.();
  }

  get isPaused(): boolean {
    return this.waiter !== undefined;
  }
}

export type AnyContext = RootContextState | StreamContextState;

/** Which end of a proxied TCP connection closed it (proxy-wasm PeerType). */
export enum PeerType {
  UNKNOWN = 0,
  LOCAL = 1,
  REMOTE = 2,
}

/**
 * A network (TCP) filter context: one proxied connection. It is a stream context (source/destination
 * properties, effective context) whose data buffers are DOWNSTREAM_DATA (2) and UPSTREAM_DATA (3).
 */
export class NetworkContextState extends StreamContextState {
  downstreamData: Buffer = Buffer.alloc(0);
  upstreamData: Buffer = Buffer.alloc(0);
  /** Which data buffer the running callback may read and change. */
  liveData: 'downstream' | 'upstream' | undefined;
  /** proxy_close_stream(DOWNSTREAM / UPSTREAM) asked for this end to be closed. */
  closeDownstream = false;
  closeUpstream = false;
}
