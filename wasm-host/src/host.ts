import { readFile } from 'node:fs/promises';
import { LogLevel } from './abi';
import { describe, PluginLoadError } from './errors';
import { capMemory } from './memory-limit';
import type { HostEnv, ResolvedConfig } from './host-env';
import { HttpCallClient } from './http-client';
import { MetricsStore } from './metrics-store';
import { SharedData, SharedQueues } from './shared-state';
import { DEFAULT_STREAM_LIMITS, type HttpStream, type StreamSink } from './http-stream';
import { NetworkStream, type ConnectionSink } from './network-stream';
import { openHttpStream, runStream } from './stream-runner';
import { UpstreamCluster } from './upstream-cluster';
import type {
  HostOptions,
  HttpCallRecord,
  LogEntry,
  StreamOptions,
  StreamRequest,
  StreamResult,
  Upstream,
} from './types';
import { abiVersionOf, Vm } from './vm';
import { istioHostConfig } from './istio/host-config';

const MAX_CONCURRENCY = 64;
/** Records kept for inspection (logs, http calls); older ones are dropped so a long-running sidecar stays bounded. */
const MAX_RECORDS = 10_000;

function pushBounded<T>(list: T[], item: T): void {
  list.push(item);
  if (list.length > MAX_RECORDS) list.splice(0, list.length - MAX_RECORDS);
}

function resolveConfig(options: HostOptions): ResolvedConfig {
  const clusters = new Map<string, UpstreamCluster>();
  for (const [name, urls] of Object.entries(options.clusters ?? {})) {
    clusters.set(name, UpstreamCluster.parse(name, urls));
  }
  return {
    pluginConfig: Buffer.from(options.pluginConfig ?? '', 'utf8'),
    vmConfig: Buffer.from(options.vmConfig ?? '', 'utf8'),
    clusters,
    nodeMetadata: new Map(Object.entries(options.nodeMetadata ?? {})),
    pluginName: options.pluginName ?? '',
    rootId: options.rootId ?? '',
    vmId: options.vmId ?? '',
    logLevel: options.logLevel ?? LogLevel.INFO,
    failStrategy: options.failStrategy ?? 'FAIL_CLOSE',
    autoTick: options.autoTick ?? false,
    now: options.now ?? (() => BigInt(Date.now()) * 1_000_000n),
    maxHttpCallResponseBytes: options.maxHttpCallResponseBytes ?? 16 << 20,
    istio: istioHostConfig(options),
    streamLimits: {
      bufferLimitBytes: options.bufferLimitBytes ?? DEFAULT_STREAM_LIMITS.bufferLimitBytes,
      maxHeaderBytes: options.maxHeaderBytes ?? DEFAULT_STREAM_LIMITS.maxHeaderBytes,
      idleTimeoutMs: options.streamIdleTimeoutMs ?? DEFAULT_STREAM_LIMITS.idleTimeoutMs,
    },
  };
}

/**
 * A proxy-wasm host: N VMs of one plugin, each like an Envoy worker with its own root context, timer and
 * http call tokens. The library face for tests; the sidecar CLI is built on it.
 */
export class ProxyWasmHost {
  readonly logs: LogEntry[] = [];
  /** The host's own messages: traps, UNIMPLEMENTED calls, failed http calls. */
  readonly hostLogs: LogEntry[] = [];
  readonly httpCalls: HttpCallRecord[] = [];
  private readonly vms: Vm[] = [];
  private hostCalls = 0;
  private nextVm = 0;
  private closed = false;
  private readonly env: HostEnv;
  private readonly unimplementedSeen = new Set<string>();

  private constructor(
    private readonly options: HostOptions,
    config: ResolvedConfig,
    concurrency: number,
  ) {
    this.concurrency = concurrency;
    this.env = {
      config,
      metrics: new MetricsStore(concurrency),
      shared: options.sharedState?.shared ?? new SharedData(),
      queues:
        options.sharedState?.queues ??
        new SharedQueues((owner, queueId) => {
          setImmediate(() => this.deliverQueueReady(owner.vm, owner.contextId, queueId));
        }),
      httpClient: new HttpCallClient(),
      recordHttpCall: (record) => pushBounded(this.httpCalls, record),
      pluginLog: (vm, level, message) => this.pluginLog(vm, level, message),
      hostLog: (vm, level, message) => this.hostLog(vm, level, message),
      unimplemented: (vm, name) => {
        if (this.unimplementedSeen.has(name)) return;
        this.unimplementedSeen.add(name);
        this.hostLog(
          vm,
          LogLevel.WARN,
          `${name} is not implemented by this host: answered UNIMPLEMENTED`,
        );
      },
      countHostCall: () => {
        this.hostCalls++;
      },
      callWatch: options.callWatch,
    };
  }

  readonly concurrency: number;

  /**
   * Load + validate ABI + link + instantiate N VMs; on each: context_create(root,0), vm_start, configure.
   * Rejects with PluginLoadError (the message says why) on failure.
   */
  static async start(options: HostOptions): Promise<ProxyWasmHost> {
    const concurrency = options.concurrency ?? 2;
    if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > MAX_CONCURRENCY) {
      throw new PluginLoadError(
        `concurrency must be an integer 1..${MAX_CONCURRENCY}, got ${concurrency}`,
      );
    }
    let bytes: Uint8Array;
    try {
      bytes = typeof options.wasm === 'string' ? await readFile(options.wasm) : options.wasm;
    } catch (err) {
      throw new PluginLoadError(
        `cannot read Wasm module ${String(options.wasm)}: ${describe(err)}`,
      );
    }
    let module: WebAssembly.Module;
    try {
      module = await WebAssembly.compile(capMemory(bytes, options.maxMemoryBytes ?? 1 << 30));
    } catch (err) {
      if (err instanceof PluginLoadError) throw err;
      throw new PluginLoadError(`not a valid Wasm module: ${describe(err)}`);
    }
    abiVersionOf(module);
    const host = new ProxyWasmHost(options, resolveConfig(options), concurrency);
    try {
      for (let i = 0; i < concurrency; i++) {
        const vm = await Vm.create(host.env, module, i);
        host.vms.push(vm);
        vm.startRootContext();
      }
    } catch (err) {
      await host.close().catch(() => undefined);
      throw err instanceof PluginLoadError ? err : new PluginLoadError(describe(err));
    }
    return host;
  }

  private pluginLog(vm: number, level: LogLevel, message: string): void {
    if (level < this.env.config.logLevel) return;
    const entry = { vm, level, message };
    pushBounded(this.logs, entry);
    this.options.onLog?.(entry);
  }

  private hostLog(vm: number, level: LogLevel, message: string): void {
    const entry = { vm, level, message };
    pushBounded(this.hostLogs, entry);
    this.options.onHostLog?.(entry);
  }

  private vm(index: number): Vm {
    const vm = this.vms[index];
    if (!vm) throw new RangeError(`no VM ${index} (concurrency ${this.concurrency})`);
    return vm;
  }

  /** proxy_on_queue_ready on VM `vm`'s context (an enqueue on a queue it registered). */
  deliverQueueReady(vm: number, contextId: number, queueId: number): void {
    this.vms[vm]?.deliverQueueReady(contextId, queueId);
  }

  /** The ABI version the module declared. */
  get abiVersion(): string {
    return this.vms[0]?.abi ?? '';
  }

  /** What the plugin armed on VM `vm` (0 = none). */
  tickPeriodMs(vm: number): number {
    return this.vm(vm).tickPeriodMs;
  }

  /** Runs proxy_on_tick now on one VM, or on all VMs when omitted. */
  async tick(vm?: number): Promise<void> {
    for (const v of vm === undefined ? this.vms : [this.vm(vm)]) v.runTick();
    await Promise.resolve();
  }

  /** True once a trap failed VM `vm` (it is not called again, like Envoy). */
  isFailed(vm: number): boolean {
    return this.vm(vm).failed;
  }

  /** Waits until every in-flight proxy_http_call finished and its callback ran (including follow-up calls). */
  async settle(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const pending = this.vms.flatMap((v) => [...v.inFlight]);
      if (pending.length === 0) return;
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(
          `settle: ${pending.length} http call(s) still in flight after ${timeoutMs} ms`,
        );
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled(pending),
        new Promise((resolve) => {
          timer = setTimeout(resolve, left);
        }),
      ]);
      clearTimeout(timer);
    }
  }

  /** Drives one HTTP stream through the plugin like Envoy (see stream-runner). Round-robin over VMs by default. */
  runStream(
    request: StreamRequest,
    upstream: Upstream,
    options: StreamOptions = {},
  ): Promise<StreamResult> {
    if (this.closed) return Promise.reject(new Error('host is closed'));
    const index = options.vm ?? this.nextVm++ % this.concurrency;
    const { failStrategy, streamLimits } = this.env.config;
    return runStream(this.vm(index), failStrategy, streamLimits, request, upstream, {
      source: options.sourceAddress ?? '127.0.0.1:50000',
      destination: options.destinationAddress ?? '127.0.0.1:15001',
      properties: options.properties,
    });
  }

  /**
   * Opens a stream for a driver that has the traffic in pieces (the sidecar): feed it request and
   * response events as they arrive; what the plugin lets through goes to `sink`.
   */
  openStream(sink: StreamSink, options: StreamOptions = {}): HttpStream {
    if (this.closed) throw new Error('host is closed');
    const index = options.vm ?? this.nextVm++ % this.concurrency;
    const { failStrategy, streamLimits } = this.env.config;
    return openHttpStream(this.vm(index), failStrategy, streamLimits, sink, {
      source: options.sourceAddress ?? '127.0.0.1:50000',
      destination: options.destinationAddress ?? '127.0.0.1:15001',
      properties: options.properties,
    });
  }

  /**
   * Opens a TCP connection through the plugin's network filter (round-robin over VMs): call `start()`,
   * then feed `downstreamData` / `upstreamData` as bytes arrive and the close events; what the plugin
   * lets through goes to `sink`.
   */
  openConnection(sink: ConnectionSink, options: StreamOptions = {}): NetworkStream {
    if (this.closed) throw new Error('host is closed');
    const vm = this.vm(options.vm ?? this.nextVm++ % this.concurrency);
    const ctx = vm.failed
      ? undefined
      : vm.createNetworkContext(
          options.sourceAddress ?? '127.0.0.1:50000',
          options.destinationAddress ?? '127.0.0.1:15001',
        );
    // Istio's view of the connection (peer, mTLS SANs, flags), read when the plugin asks.
    if (ctx) ctx.streamProperties = options.properties;
    return new NetworkStream(vm, ctx, sink, this.env.config.failStrategy);
  }

  /** Metric name -> value on one VM, or summed over VMs when omitted (histograms: sample count). */
  metrics(vm?: number): Map<string, number> {
    if (vm !== undefined) this.vm(vm);
    return this.env.metrics.snapshot(vm);
  }

  /** Every metric with its type, summed over VMs (histograms: sum in value, samples in count). */
  metricSeries(): ReturnType<MetricsStore['describe']> {
    return this.env.metrics.describe();
  }

  memoryBytes(vm: number): number {
    return this.vm(vm).memoryBytes;
  }

  /** Total host function calls so far. */
  hostCallCount(): number {
    return this.hostCalls;
  }

  /** Stops timers, lets in-flight calls finish, runs on_done/on_delete on every root context. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const vm of this.vms) vm.stopTimer();
    await this.settle(5_000).catch(() => undefined);
    for (const vm of this.vms) await vm.shutdown(5_000);
    await this.settle(5_000).catch(() => undefined);
    this.env.httpClient.close();
  }
}
