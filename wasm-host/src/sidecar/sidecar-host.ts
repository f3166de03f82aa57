import type { PeerType } from '../contexts';
import type { StreamInput, StreamSink } from '../http-stream';
import type { ConnectionSink } from '../network-stream';
import type { StreamOptions } from '../types';
import type { SeriesView } from './stats';

/** A TCP connection as the sidecar drives it, in process or on a worker. */
export interface ConnectionInput {
  start(): boolean | Promise<boolean>;
  downstreamData(chunk: Buffer, endOfStream: boolean): void;
  upstreamData(chunk: Buffer, endOfStream: boolean): void;
  downstreamConnectionClosed(peer?: PeerType): void;
  upstreamConnectionClosed(peer?: PeerType): void;
}

/** What the sidecar needs from a host: ProxyWasmHost (in process) or WorkerHost (a thread per VM). */
export interface SidecarHost {
  openStream(sink: StreamSink, options?: StreamOptions): StreamInput;
  openConnection(sink: ConnectionSink, options?: StreamOptions): ConnectionInput;
  metricSeries(): SeriesView[] | Promise<SeriesView[]>;
  hostCallCount(): number | Promise<number>;
  close(): Promise<void>;
}
