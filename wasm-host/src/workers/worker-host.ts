import { existsSync } from 'node:fs';
import { extname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { LogLevel } from '../abi';
import { PluginLoadError } from '../errors';
import type { HeaderPairs } from '../header-map';
import {
  localReplyHeaders,
  type StreamEnd,
  type StreamInput,
  type StreamSink,
} from '../http-stream';
import type { ConnectionSink } from '../network-stream';
import { PlainStream } from '../sidecar/plain-stream';
import type { ConnectionInput, SidecarHost } from '../sidecar/sidecar-host';
import type { SeriesView } from '../sidecar/stats';
import type { StreamProperties } from '../istio/stream-properties';
import type { HostOptions, LogEntry, StreamOptions } from '../types';
import { SharedData, SharedQueues } from '../shared-state';
import { revive, type FromWorker, type ToWorker } from './protocol';
import { answerShared, REPLY_BYTES } from './shared-rpc';
import type { VmWorkerData } from './vm-worker';

export interface WorkerHostOptions extends HostOptions {
  /** A callback running longer than this fails its VM (the worker is stopped); 0 = no watchdog. */
  watchdogMs?: number;
}

/**
 * The worker entry next to this module: compiled .js runs as it is; the .ts source (under tsx or ts-jest)
 * runs through tsx's require hook, registered inside the worker first.
 */
function startWorker(data: VmWorkerData): Worker {
  const ext = extname(__filename);
  const file = join(__dirname, `vm-worker${ext}`);
  if (!existsSync(file)) throw new PluginLoadError(`VM worker entry ${file} is missing`);
  if (ext !== '.ts') return new Worker(file, { workerData: data });
  const tsx = require.resolve('tsx/cjs/api');
  const code = `require(${JSON.stringify(tsx)}).register(); require(${JSON.stringify(file)});`;
  return new Worker(code, { eval: true, workerData: data });
}

const stripFunctions = (options: HostOptions): HostOptions => {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(options)) if (typeof v !== 'function') out[k] = v;
  return out as unknown as HostOptions;
};

interface Remote {
  /** Delivers a sink call from the worker. */
  out(m: string, a: unknown[]): void | Promise<void>;
  writable(v: boolean): void;
  started?(ok: boolean): void;
  done(end?: StreamEnd): void;
  /** The VM died under this stream. */
  lost(): void;
}

/** One VM on its own thread, with its watchdog. */
class VmWorker {
  readonly worker: Worker;
  private readonly watch = new Float64Array(new SharedArrayBuffer(8));
  private readonly control = new SharedArrayBuffer(4);
  private readonly reply = new SharedArrayBuffer(REPLY_BYTES);
  readonly remotes = new Map<number, Remote>();
  failed = false;
  private stats = new Map<number, (v: { series: SeriesView[]; hostCalls: number }) => void>();
  lastStats: { series: SeriesView[]; hostCalls: number } = { series: [], hostCalls: 0 };
  private nextSeq = 1;
  readonly ready: Promise<void>;
  private closedResolve: (() => void) | undefined;

  constructor(
    readonly index: number,
    options: WorkerHostOptions,
    private readonly log: (entry: LogEntry, host: boolean) => void,
    private readonly state: { shared: SharedData; queues: SharedQueues },
  ) {
    const data: VmWorkerData = {
      options: stripFunctions(options),
      watch: this.watch.buffer as SharedArrayBuffer,
      control: this.control,
      reply: this.reply,
    };
    this.worker = startWorker(data);
    this.ready = new Promise((resolve, reject) => {
      this.worker.on('message', (msg: FromWorker) => {
        if (msg.t === 'ready') resolve();
        else if (msg.t === 'loadError') reject(new PluginLoadError(msg.message));
        else this.onMessage(msg);
      });
      this.worker.on('error', (err) => {
        reject(new PluginLoadError(`VM worker ${index} failed: ${err.message}`));
        this.fail(`worker error: ${err.message}`);
      });
      this.worker.on('exit', () => {
        this.closedResolve?.();
        if (!this.failed && this.remotes.size > 0) this.fail('worker exited');
      });
    });
  }

  post(msg: ToWorker): void {
    if (!this.failed) this.worker.postMessage(msg);
  }

  private onMessage(msg: FromWorker): void {
    switch (msg.t) {
      case 'out': {
        const remote = this.remotes.get(msg.id);
        const r = remote?.out(msg.m, revive(msg.a));
        if (msg.seq !== undefined) {
          const seq = msg.seq;
          void Promise.resolve(r).then(() => this.post({ t: 'ack', seq }));
        }
        return;
      }
      case 'writable':
        return this.remotes.get(msg.id)?.writable(msg.v);
      case 'started':
        return this.remotes.get(msg.id)?.started?.(msg.ok);
      case 'done':
        this.remotes.get(msg.id)?.done(msg.end);
        this.remotes.delete(msg.id);
        return;
      case 'log':
        return this.log({ ...msg.e, vm: this.index }, msg.host);
      case 'stats':
        this.lastStats = { series: msg.series, hostCalls: msg.hostCalls };
        this.stats.get(msg.seq)?.(this.lastStats);
        this.stats.delete(msg.seq);
        return;
      case 'sync':
        answerShared(
          msg.s,
          this.index,
          this.state.shared,
          this.state.queues,
          this.control,
          this.reply,
        );
        return;
      case 'closed':
        this.closedResolve?.();
        return;
      default:
        return;
    }
  }

  /** Watchdog: true when the callback running now began more than `limitMs` ago. */
  stuckFor(limitMs: number, now: number): boolean {
    const since = this.watch[0];
    return since > 0 && now - since > limitMs;
  }

  /** The VM is gone (watchdog, crash): its streams get the fail strategy, new ones never reach it. */
  fail(reason: string): void {
    if (this.failed) return;
    this.failed = true;
    this.log(
      { vm: this.index, level: LogLevel.CRITICAL, message: `VM ${this.index} failed: ${reason}` },
      true,
    );
    void this.worker.terminate();
    for (const remote of this.remotes.values()) remote.lost();
    this.remotes.clear();
  }

  /** Metrics from the worker, or its last answer when it does not answer within 500 ms. */
  readStats(): Promise<{ series: SeriesView[]; hostCalls: number }> {
    if (this.failed) return Promise.resolve(this.lastStats);
    const seq = this.nextSeq++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.stats.delete(seq);
        resolve(this.lastStats);
      }, 500);
      this.stats.set(seq, (v) => {
        clearTimeout(timer);
        resolve(v);
      });
      this.post({ t: 'stats', seq });
    });
  }

  async close(graceMs: number): Promise<void> {
    if (this.failed) return;
    const closed = new Promise<void>((resolve) => {
      this.closedResolve = resolve;
    });
    this.post({ t: 'close' });
    const timer = new Promise<void>((resolve) => setTimeout(resolve, graceMs).unref());
    await Promise.race([closed, timer]);
    this.failed = true;
    await this.worker.terminate();
  }
}

/** A stream on a worker VM, seen from the main thread. */
class RemoteStream implements StreamInput {
  writable = true;
  onDrain: (() => void) | undefined;
  private resolveDone!: (end: StreamEnd) => void;
  readonly done = new Promise<StreamEnd>((resolve) => {
    this.resolveDone = resolve;
  });
  private responseStarted = false;
  private ended = false;

  constructor(
    private readonly vm: VmWorker,
    private readonly id: number,
    private readonly sink: StreamSink,
  ) {}

  remote(): Remote {
    return {
      out: (m, a) => {
        if (m === 'downstreamHeaders') this.responseStarted = true;
        const fn = (
          this.sink as unknown as Record<string, (...x: unknown[]) => void | Promise<void>>
        )[m];
        return fn?.apply(this.sink, a);
      },
      writable: (v) => {
        this.writable = v;
        if (v) this.onDrain?.();
      },
      done: (end) => this.finish(end ?? { localReply: false, reset: false, details: '' }),
      lost: () => {
        // The VM's state is gone with its thread: Envoy-like fail-closed for what was in flight.
        this.sink.upstreamCancel();
        if (this.responseStarted) {
          this.sink.downstreamReset();
          this.finish({ localReply: false, reset: true, details: 'wasm_fail_stream' });
          return;
        }
        void (async () => {
          await this.sink.downstreamHeaders(localReplyHeaders(503, Buffer.alloc(0)), true);
          this.finish({ localReply: true, reset: false, details: 'wasm_fail_stream' });
        })();
      },
    };
  }

  private finish(end: StreamEnd): void {
    if (this.ended) return;
    this.ended = true;
    this.resolveDone(end);
  }

  private send(m: string, ...a: unknown[]): void {
    this.vm.post({ t: 'in', id: this.id, m, a });
  }

  requestHeaders(headers: HeaderPairs, eos: boolean): void {
    this.send('requestHeaders', headers, eos);
  }
  requestData(chunk: Buffer, eos: boolean): void {
    this.send('requestData', chunk, eos);
  }
  requestTrailers(trailers: HeaderPairs): void {
    this.send('requestTrailers', trailers);
  }
  responseHeaders(headers: HeaderPairs, eos: boolean): void {
    this.send('responseHeaders', headers, eos);
  }
  responseData(chunk: Buffer, eos: boolean): void {
    this.send('responseData', chunk, eos);
  }
  responseTrailers(trailers: HeaderPairs): void {
    this.send('responseTrailers', trailers);
  }
  upstreamFailed(status?: number, body?: string, details?: string): void {
    this.send('upstreamFailed', status, body, details);
  }
  downstreamClosed(): void {
    this.send('downstreamClosed');
  }
  setProperties(properties: StreamProperties): void {
    this.send('setProperties', properties);
  }
}

/** A TCP connection on a worker VM, seen from the main thread. */
class RemoteConnection implements ConnectionInput {
  private resolveStart!: (ok: boolean) => void;
  private readonly startPromise = new Promise<boolean>((resolve) => {
    this.resolveStart = resolve;
  });

  constructor(
    private readonly vm: VmWorker,
    private readonly id: number,
    private readonly sink: ConnectionSink,
  ) {}

  remote(): Remote {
    return {
      out: (m, a) => {
        const fn = (
          this.sink as unknown as Record<string, (...x: unknown[]) => void | Promise<void>>
        )[m];
        return fn?.apply(this.sink, a);
      },
      writable: () => undefined,
      started: (ok) => this.resolveStart(ok),
      done: () => undefined,
      lost: () => {
        this.resolveStart(false);
        this.sink.closeDownstream();
        this.sink.closeUpstream();
      },
    };
  }

  start(): Promise<boolean> {
    return this.startPromise;
  }
  private send(m: string, ...a: unknown[]): void {
    this.vm.post({ t: 'in', id: this.id, m, a });
  }
  downstreamData(chunk: Buffer, eos: boolean): void {
    this.send('downstreamData', chunk, eos);
  }
  upstreamData(chunk: Buffer, eos: boolean): void {
    this.send('upstreamData', chunk, eos);
  }
  downstreamConnectionClosed(): void {
    this.send('downstreamConnectionClosed');
  }
  upstreamConnectionClosed(): void {
    this.send('upstreamConnectionClosed');
  }
}

/**
 * The plugin's VMs each on a worker thread, as Envoy's workers each run their own VM: a plugin stuck in a
 * callback blocks only its own thread, so the other VMs, the admin port and shutdown keep working, and the
 * watchdog stops it. The surface is what the sidecar needs from ProxyWasmHost.
 */
export class WorkerHost implements SidecarHost {
  private readonly vms: VmWorker[] = [];
  private nextVm = 0;
  private nextId = 1;
  private watchdog: NodeJS.Timeout | undefined;
  private closed = false;

  private constructor(private readonly options: WorkerHostOptions) {}

  static async start(options: WorkerHostOptions): Promise<WorkerHost> {
    const host = new WorkerHost(options);
    const concurrency = options.concurrency ?? 2;
    const log = (entry: LogEntry, isHost: boolean) =>
      isHost ? options.onHostLog?.(entry) : options.onLog?.(entry);
    // Shared data and queues live here, for every VM thread, as Envoy's are process-wide.
    const state = {
      shared: new SharedData(),
      queues: new SharedQueues((owner, queueId) =>
        host.vms[owner.vm]?.post({ t: 'queueReady', contextId: owner.contextId, queueId }),
      ),
    };
    for (let i = 0; i < concurrency; i++) host.vms.push(new VmWorker(i, options, log, state));
    try {
      await Promise.all(host.vms.map((v) => v.ready));
    } catch (err) {
      await host.close();
      throw err;
    }
    const limit = options.watchdogMs ?? 0;
    if (limit > 0) {
      host.watchdog = setInterval(
        () => {
          const now = Date.now();
          for (const vm of host.vms) {
            if (!vm.failed && vm.stuckFor(limit, now)) {
              vm.fail(`a callback ran longer than the watchdog's ${limit} ms`);
            }
          }
        },
        Math.max(10, Math.min(250, Math.floor(limit / 4))),
      );
      host.watchdog.unref();
    }
    return host;
  }

  get concurrency(): number {
    return this.vms.length;
  }

  isFailed(vm: number): boolean {
    return this.vms[vm]?.failed ?? true;
  }

  private pick(options: StreamOptions): VmWorker {
    return this.vms[options.vm ?? this.nextVm++ % this.vms.length];
  }

  openStream(sink: StreamSink, options: StreamOptions = {}): StreamInput {
    const vm = this.pick(options);
    if (vm.failed || this.closed)
      return new PlainStream(sink, this.options.failStrategy !== 'FAIL_OPEN');
    const id = this.nextId++;
    const stream = new RemoteStream(vm, id, sink);
    vm.remotes.set(id, stream.remote());
    vm.post({
      t: 'open',
      id,
      kind: 'http',
      source: options.sourceAddress ?? '127.0.0.1:50000',
      destination: options.destinationAddress ?? '127.0.0.1:15001',
      properties: options.properties,
    });
    return stream;
  }

  openConnection(sink: ConnectionSink, options: StreamOptions = {}): ConnectionInput {
    const vm = this.pick(options);
    if (vm.failed || this.closed) {
      const open = this.options.failStrategy === 'FAIL_OPEN';
      return {
        start: () => {
          if (!open) sink.closeDownstream();
          return open;
        },
        downstreamData: (c, eos) => {
          void sink.toUpstream(c);
          if (eos) sink.endUpstream();
        },
        upstreamData: (c, eos) => {
          void sink.toDownstream(c);
          if (eos) sink.endDownstream();
        },
        downstreamConnectionClosed: () => undefined,
        upstreamConnectionClosed: () => undefined,
      };
    }
    const id = this.nextId++;
    const conn = new RemoteConnection(vm, id, sink);
    vm.remotes.set(id, conn.remote());
    vm.post({
      t: 'open',
      id,
      kind: 'tcp',
      source: options.sourceAddress ?? '127.0.0.1:50000',
      destination: options.destinationAddress ?? '127.0.0.1:15001',
      properties: options.properties,
    });
    return conn;
  }

  /** Every metric summed over the VMs (a stuck VM's last answer). */
  async metricSeries(): Promise<SeriesView[]> {
    const all = await Promise.all(this.vms.map((v) => v.readStats()));
    const byName = new Map<string, SeriesView>();
    for (const { series } of all) {
      for (const s of series) {
        const seen = byName.get(s.name);
        if (seen) {
          seen.value += s.value;
          seen.count += s.count;
        } else byName.set(s.name, { ...s });
      }
    }
    return [...byName.values()];
  }

  async hostCallCount(): Promise<number> {
    const all = await Promise.all(this.vms.map((v) => v.readStats()));
    return all.reduce((n, s) => n + s.hostCalls, 0);
  }

  /** Root on_done / on_delete on each VM (bounded wait), then the threads end, stuck or not. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.watchdog);
    await Promise.all(this.vms.map((v) => v.close(2_000)));
  }
}
