import type { LogLevel } from './abi';
import type { ListenerDirection, StreamProperties } from './istio/stream-properties';
import type { SharedDataApi, SharedQueuesApi } from './shared-state';

export type FailStrategy = 'FAIL_OPEN' | 'FAIL_CLOSE';

export interface HostOptions {
  /** Module bytes, or a file path. */
  wasm: Uint8Array | string;
  /** PLUGIN_CONFIGURATION (buffer 7), e.g. the JSON Istio hands over; default ''. */
  pluginConfig?: string;
  /** VM_CONFIGURATION (buffer 6); default ''. */
  vmConfig?: string;
  /** Independent VMs, like Envoy worker threads; default 2. */
  concurrency?: number;
  /** Envoy cluster name -> base URL (http://host:port), or several: a ring hash on `:authority` picks one. */
  clusters?: Record<string, string | readonly string[]>;
  /** node.metadata.* properties (NAME, NAMESPACE, WORKLOAD_NAME, ...). */
  nodeMetadata?: Record<string, string>;
  pluginName?: string;
  rootId?: string;
  vmId?: string;
  /** What proxy_get_log_level answers and the minimum recorded; default INFO. */
  logLevel?: LogLevel;
  /** Default FAIL_CLOSE (Envoy's default). */
  failStrategy?: FailStrategy;
  /** true: real timers drive proxy_on_tick; false (tests): call tick(); default false. */
  autoTick?: boolean;
  /** Clock for proxy_get_current_time_nanoseconds (ns since the epoch); default real time. */
  now?: () => bigint;
  onLog?: (entry: LogEntry) => void;
  /** The host's own messages (traps, UNIMPLEMENTED calls, failed http calls). */
  onHostLog?: (entry: LogEntry) => void;
  /** Largest http call response body accepted; default 16 MiB. */
  maxHttpCallResponseBytes?: number;
  // ---- What Istio puts around the plugin (see wasm-host/src/istio/)
  /** `listener_direction` of every stream (1 inbound, 2 outbound); unset = NOT_FOUND. */
  listenerDirection?: ListenerDirection;
  /** node.metadata as a structured value (LABELS a map, CLUSTER_ID, MESH_ID, SERVICE_ACCOUNT, ...);
   * `nodeMetadata` entries are laid over it. */
  nodeMetadataStruct?: Record<string, unknown>;
  /** `xds.cluster_name`, `xds.cluster_metadata` (Envoy Metadata, e.g. filter_metadata.istio.services),
   * `xds.upstream_host_metadata`. */
  clusterName?: string;
  clusterMetadata?: Record<string, unknown>;
  upstreamHostMetadata?: Record<string, unknown>;
  /**
   * Largest body a plugin may buffer (StopIterationAndBuffer) or produce; past it the request gets 413 and
   * the response 500, as Envoy's buffer limit does. Default 1 MiB (Envoy's per-connection buffer limit).
   */
  bufferLimitBytes?: number;
  /** Largest header map a plugin may produce; default 60 KiB (Envoy's max_request_headers_kb). */
  maxHeaderBytes?: number;
  /**
   * Largest linear memory a VM may have (the module's memory maximum is lowered to it, as Envoy's V8 caps
   * Wasm memory); growing past it fails, which fails the VM. Default 1 GiB.
   */
  maxMemoryBytes?: number;
  /**
   * Shared data and queues kept elsewhere (VM worker threads share the main thread's); default: this
   * host's own. `queueReady` is how the owner learns an enqueue happened elsewhere.
   */
  sharedState?: {
    shared: SharedDataApi;
    queues: SharedQueuesApi;
  };
  /** Told when a guest callback starts and returns (used by the worker watchdog). */
  callWatch?: { enter(): void; exit(): void };
  /** A stream idle this long ends (408, or a reset once response headers went out); default 0 = never. */
  streamIdleTimeoutMs?: number;
}

/** A body: one piece, or the chunks it arrives in (each a body callback, like Envoy's data frames). */
export type StreamBody = Buffer | string | ReadonlyArray<Buffer | string>;

/** vm = VM index 0..concurrency-1 */
export interface LogEntry {
  vm: number;
  level: LogLevel;
  message: string;
}

export interface HttpCallResponse {
  status: number;
  headers: Array<[string, string]>;
  body: Buffer;
}

export interface HttpCallRecord {
  vm: number;
  cluster: string;
  headers: Array<[string, string]>;
  body: Buffer;
  timeoutMs: number;
  /** proxy_http_call's return status (0 OK, 2 BAD_ARGUMENT, ...). */
  status: number;
  token?: number;
  /** Once answered. */
  response?: HttpCallResponse;
  /** Connection failure / timeout. */
  error?: string;
}

export interface StreamRequest {
  method: string;
  path: string;
  authority?: string;
  headers?: Array<[string, string]>;
  body?: StreamBody;
  trailers?: Array<[string, string]>;
}

export interface UpstreamResponse {
  status: number;
  headers?: Array<[string, string]>;
  body?: StreamBody;
  trailers?: Array<[string, string]>;
}

export interface ForwardedRequest {
  /** The request header map as the plugin left it, pseudo-headers included. */
  headers: Array<[string, string]>;
  body: Buffer;
  /** The body in the pieces the plugin let through. */
  bodyChunks: Buffer[];
  trailers: Array<[string, string]>;
}

export type Upstream = UpstreamResponse | ((req: ForwardedRequest) => Promise<UpstreamResponse>);

export interface StreamResult {
  status: number;
  /** Response headers without pseudo-headers. */
  headers: Array<[string, string]>;
  body: Buffer;
  /** The body in the pieces the plugin let through. */
  bodyChunks: Buffer[];
  trailers: Array<[string, string]>;
  /** The plugin (or the host's fail-closed path) answered instead of the upstream. */
  localReply: boolean;
  /** The plugin closed the stream (proxy_close_stream): a real proxy resets the connection. */
  reset: boolean;
  /** What the upstream received, when it was called. */
  forwarded?: ForwardedRequest;
}

export interface StreamOptions {
  /** VM index; round-robin over VMs when omitted. */
  vm?: number;
  /** Properties source.address / destination.address (ip:port). */
  sourceAddress?: string;
  destinationAddress?: string;
  /** Per-stream Istio properties (peer, mTLS, flags, ...), read when the plugin asks. */
  properties?: StreamProperties;
}
