export { ProxyWasmHost } from './host';
export { Action, BufferType, LogLevel, MapType, MetricType, Status, StreamType } from './abi';
export { PluginLoadError } from './errors';
export { decodePairs, encodePairs } from './header-map';
export type {
  FailStrategy,
  ForwardedRequest,
  HostOptions,
  HttpCallRecord,
  HttpCallResponse,
  LogEntry,
  StreamOptions,
  StreamRequest,
  StreamBody,
  StreamResult,
  Upstream,
  UpstreamResponse,
} from './types';
export type { HttpStream, StreamEnd, StreamLimits, StreamSink } from './http-stream';
export { PeerType } from './contexts';
export type { ConnectionSink, NetworkStream } from './network-stream';
export { WorkerHost, type WorkerHostOptions } from './workers/worker-host';
export type { ConnectionInput, SidecarHost } from './sidecar/sidecar-host';
export { startSidecar, type RunningSidecar } from './sidecar/server';
export { parseSidecarArgs, type SidecarOptions } from './sidecar/options';
export type { ListenerDirection, PeerNode, StreamProperties } from './istio/stream-properties';
export { responseFlagBits, responseFlagsString } from './istio/response-flags';
