import { parentPort, workerData } from 'node:worker_threads';
import { describe } from '../errors';
import { ProxyWasmHost } from '../host';
import type { HttpStream, StreamSink } from '../http-stream';
import type { ConnectionSink, NetworkStream } from '../network-stream';
import type { HostOptions } from '../types';
import { revive, type FromWorker, type ToWorker } from './protocol';
import { RemoteSharedState } from './shared-rpc';

/** What the main thread hands each VM worker. */
export interface VmWorkerData {
  options: HostOptions;
  /** Shared with the main thread's watchdog: when the running callback began (ms), 0 = idle. */
  watch: SharedArrayBuffer;
  /** Shared data / queue calls: the wake-up word and the reply slot (see shared-rpc). */
  control: SharedArrayBuffer;
  reply: SharedArrayBuffer;
}

/** Sink methods whose promise carries backpressure: the worker waits for the main thread's ack. */
const ACKED = new Set(['upstreamData', 'downstreamData', 'toUpstream', 'toDownstream']);

/** One VM on its own thread: a one-VM ProxyWasmHost driven by messages from WorkerHost. */
async function main(): Promise<void> {
  const port = parentPort!;
  const data = workerData as VmWorkerData;
  const post = (msg: FromWorker) => port.postMessage(msg);
  const watch = new Float64Array(data.watch);
  let depth = 0;
  const remote = new RemoteSharedState(port, data.control, data.reply);
  let host: ProxyWasmHost;
  try {
    host = await ProxyWasmHost.start({
      ...data.options,
      concurrency: 1,
      sharedState: { shared: remote, queues: remote },
      onLog: (e) => post({ t: 'log', host: false, e }),
      onHostLog: (e) => post({ t: 'log', host: true, e }),
      callWatch: {
        enter: () => {
          if (depth++ === 0) watch[0] = Date.now();
        },
        exit: () => {
          if (--depth === 0) watch[0] = 0;
        },
      },
    });
  } catch (err) {
    post({ t: 'loadError', message: err instanceof Error ? err.message : describe(err) });
    return;
  }
  const streams = new Map<number, HttpStream | NetworkStream>();
  const acks = new Map<number, () => void>();
  let nextSeq = 1;
  const sinkFor = (id: number): StreamSink & ConnectionSink =>
    new Proxy({} as StreamSink & ConnectionSink, {
      get:
        (_target, m: string) =>
        (...a: unknown[]) => {
          if (!ACKED.has(m)) {
            post({ t: 'out', id, m, a });
            return;
          }
          const seq = nextSeq++;
          post({ t: 'out', id, m, a, seq });
          return new Promise<void>((resolve) => acks.set(seq, resolve));
        },
    });

  port.on('message', (msg: ToWorker) => {
    switch (msg.t) {
      case 'open': {
        const opts = {
          vm: 0,
          sourceAddress: msg.source,
          destinationAddress: msg.destination,
          properties: msg.properties,
        };
        if (msg.kind === 'http') {
          const stream = host.openStream(sinkFor(msg.id), opts);
          streams.set(msg.id, stream);
          stream.onDrain = () => post({ t: 'writable', id: msg.id, v: true });
          void stream.done.then((end) => {
            streams.delete(msg.id);
            post({ t: 'done', id: msg.id, end });
          });
        } else {
          const conn = host.openConnection(sinkFor(msg.id), opts);
          streams.set(msg.id, conn);
          post({ t: 'started', id: msg.id, ok: conn.start() });
          void conn.done.then(() => {
            streams.delete(msg.id);
            post({ t: 'done', id: msg.id });
          });
        }
        return;
      }
      case 'in': {
        const stream = streams.get(msg.id) as unknown as
          Record<string, (...a: unknown[]) => void> | undefined;
        if (!stream) return;
        const wasWritable = (stream as { writable?: boolean }).writable !== false;
        stream[msg.m]?.(...revive(msg.a));
        if (wasWritable && (stream as { writable?: boolean }).writable === false) {
          post({ t: 'writable', id: msg.id, v: false });
        }
        return;
      }
      case 'ack':
        acks.get(msg.seq)?.();
        acks.delete(msg.seq);
        return;
      case 'stats':
        post({
          t: 'stats',
          seq: msg.seq,
          series: host.metricSeries(),
          hostCalls: host.hostCallCount(),
        });
        return;
      case 'queueReady':
        host.deliverQueueReady(0, msg.contextId, msg.queueId);
        return;
      case 'close':
        void host.close().then(() => {
          post({ t: 'closed' });
          port.close();
        });
        return;
    }
  });
  post({ t: 'ready', abi: host.abiVersion });
}

void main();
