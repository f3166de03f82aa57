import type { LogEntry } from '../types';
import type { StreamEnd } from '../http-stream';
import type { SeriesView } from '../sidecar/stats';
import type { SharedOp } from './shared-rpc';
import type { StreamProperties } from '../istio/stream-properties';

/** Main thread -> VM worker. */
export type ToWorker =
  | {
      t: 'open';
      id: number;
      kind: 'http' | 'tcp';
      source: string;
      destination: string;
      properties?: StreamProperties;
    }
  /** A StreamInput / NetworkStream method call on stream `id`. */
  | { t: 'in'; id: number; m: string; a: unknown[] }
  | { t: 'ack'; seq: number }
  | { t: 'stats'; seq: number }
  /** A shared queue this VM registered got an item (proxy_on_queue_ready). */
  | { t: 'queueReady'; contextId: number; queueId: number }
  | { t: 'close' };

/** VM worker -> main thread. */
export type FromWorker =
  | { t: 'ready'; abi: string }
  | { t: 'loadError'; message: string }
  /** A StreamSink / ConnectionSink call for stream `id`; with `seq`, the worker waits for the ack. */
  | { t: 'out'; id: number; m: string; a: unknown[]; seq?: number }
  | { t: 'writable'; id: number; v: boolean }
  | { t: 'started'; id: number; ok: boolean }
  | { t: 'done'; id: number; end?: StreamEnd }
  | { t: 'log'; host: boolean; e: LogEntry }
  | { t: 'stats'; seq: number; series: SeriesView[]; hostCalls: number }
  /** A shared data / queue operation; the worker sleeps until the reply slot is written. */
  | { t: 'sync'; s: SharedOp }
  | { t: 'closed' };

/** Buffers cross postMessage as Uint8Array; turn them back into Buffers. */
export const revive = (args: unknown[]): unknown[] =>
  args.map((a) =>
    a instanceof Uint8Array && !Buffer.isBuffer(a)
      ? Buffer.from(a.buffer, a.byteOffset, a.byteLength)
      : a,
  );
