import {
  ABI_MARKERS,
  type AbiVersion,
  LogLevel,
  Status,
  UNIMPLEMENTED_HOST_FUNCTIONS,
  VERSION_ONLY_HOST_FUNCTIONS,
} from './abi';
import {
  NetworkContextState,
  RootContextState,
  StreamContextState,
  type AnyContext,
} from './contexts';
import { describe, MemoryAccessError, PluginLoadError, ProcExit } from './errors';
import { GuestMemory } from './guest-memory';
import type { HostEnv } from './host-env';
import { createHostFunctions, type HostFunction } from './hostcalls';
import type { LiveHttpCallResponse, VmApi } from './hostcalls/vm-api';
import { MetricIds } from './metric-ids';
import { createWasiImports, WASI_MODULES } from './wasi';

export type { LiveHttpCallResponse } from './hostcalls/vm-api';

export type CallResult = { ok: true; value: number } | { ok: false };

type GuestFunction = (...args: number[]) => unknown;

/** Checks the ABI marker export; throws the error Envoy would log. */
export function abiVersionOf(module: WebAssembly.Module): AbiVersion {
  const exported = new Set(WebAssembly.Module.exports(module).map((e) => e.name));
  for (const [marker, version] of ABI_MARKERS) if (exported.has(marker)) return version;
  throw new PluginLoadError('Missing or unknown Proxy-Wasm ABI version');
}

/** One instance of the plugin, like one Envoy worker's VM: its own memory, contexts, timer and tokens. */
export class Vm implements VmApi {
  memory!: GuestMemory;
  private exports!: Record<string, unknown>;
  readonly contexts = new Map<number, AnyContext>();
  private nextContextId = 1;
  root!: RootContextState;
  /** The context host calls act on: the running callback's, or the one set with set_effective_context. */
  current: AnyContext | undefined;
  /** PLUGIN_CONFIGURATION is readable only during proxy_on_configure (as in Envoy). */
  inConfigure = false;
  httpCallResponse: LiveHttpCallResponse | undefined;
  /** What proxy_get_status reports: the outcome of the last http call delivered. */
  lastStatus = { code: Status.OK as number, message: '' };
  tickPeriodMs = 0;
  private tickTimer: NodeJS.Timeout | undefined;
  private nextToken = 1;
  readonly metricIds = new MetricIds();
  readonly inFlight = new Set<Promise<void>>();
  /** A trap happened: like Envoy, the VM is not called again. */
  failed = false;
  closed = false;

  private constructor(
    readonly env: HostEnv,
    readonly index: number,
    readonly abi: AbiVersion,
  ) {}

  static async create(env: HostEnv, module: WebAssembly.Module, index: number): Promise<Vm> {
    const abi = abiVersionOf(module);
    const vm = new Vm(env, index, abi);
    const imports = vm.buildImports(module);
    const instance = await WebAssembly.instantiate(module, imports);
    vm.exports = instance.exports as Record<string, unknown>;
    const memory = vm.exports.memory;
    if (!(memory instanceof WebAssembly.Memory)) {
      throw new PluginLoadError('Wasm module does not export its memory as "memory"');
    }
    const allocator = vm.fn('malloc') ?? vm.fn('proxy_on_memory_allocate');
    if (!allocator) {
      throw new PluginLoadError(
        'Wasm module is missing malloc function (or proxy_on_memory_allocate)',
      );
    }
    vm.memory = new GuestMemory(memory, (size) => Number(allocator(size)));
    vm.start();
    return vm;
  }

  private fn(name: string): GuestFunction | undefined {
    const f = this.exports[name];
    return typeof f === 'function' ? (f as GuestFunction) : undefined;
  }

  hasExport(name: string): boolean {
    return this.fn(name) !== undefined;
  }

  private buildImports(module: WebAssembly.Module): WebAssembly.Imports {
    const host = createHostFunctions(this);
    const wasi = createWasiImports({
      memory: () => this.memory,
      now: () => this.env.config.now(),
      log: (level, message) => this.env.pluginLog(this.index, level, message),
      unimplemented: (name) => this.env.unimplemented(this.index, name),
    });
    const env: Record<string, HostFunction> = {};
    const wasiModule: Record<string, HostFunction> = {};
    for (const imp of WebAssembly.Module.imports(module)) {
      const missing = () =>
        new PluginLoadError(
          `Failed to load Wasm module due to a missing import: ${imp.module}.${imp.name}`,
        );
      if (imp.kind !== 'function') throw missing();
      if (imp.module === 'env') {
        const only = VERSION_ONLY_HOST_FUNCTIONS[imp.name];
        if (only && !only.includes(this.abi)) throw missing();
        const impl = host[imp.name];
        if (impl) env[imp.name] = this.counted(impl);
        else if (UNIMPLEMENTED_HOST_FUNCTIONS.includes(imp.name))
          env[imp.name] = this.counted(() => {
            this.env.unimplemented(this.index, imp.name);
            return Status.UNIMPLEMENTED;
          });
        else throw missing();
      } else if (WASI_MODULES.includes(imp.module)) {
        const impl = wasi[imp.name];
        if (!impl) throw missing();
        wasiModule[imp.name] = this.counted(impl, 21 /* EFAULT */);
      } else {
        throw missing();
      }
    }
    const imports: WebAssembly.Imports = { env };
    for (const name of WASI_MODULES) imports[name] = wasiModule;
    return imports;
  }

  /** Counts the call and turns an out-of-bounds guest pointer into an error status, never a crash. */
  private counted(
    fn: HostFunction,
    memoryFault: number = Status.INVALID_MEMORY_ACCESS,
  ): HostFunction {
    return (...args) => {
      this.env.countHostCall();
      try {
        return fn(...args);
      } catch (err) {
        if (err instanceof MemoryAccessError) return memoryFault;
        throw err;
      }
    };
  }

  /** Envoy's startVm: _initialize (then main), else _start. */
  private start(): void {
    const run = (name: string, ...args: number[]) => {
      try {
        this.fn(name)?.(...args);
      } catch (err) {
        if (err instanceof ProcExit && err.code === 0) return;
        throw new PluginLoadError(`Wasm module failed in ${name}: ${describe(err)}`);
      }
    };
    if (this.hasExport('_initialize')) {
      run('_initialize');
      if (this.hasExport('main')) run('main', 0, 0);
      else if (this.hasExport('__main_void')) run('__main_void');
    } else if (this.hasExport('_start')) {
      run('_start');
    }
  }

  /**
   * Runs a guest callback with `context` as the current context. A missing export answers `fallback`. A trap
   * (or any error thrown through the guest) is logged with the callback's name and marks the VM failed.
   */
  call(name: string, context: AnyContext, args: number[], fallback = 0): CallResult {
    if (this.failed) return { ok: false };
    const f = this.fn(name);
    if (!f) return { ok: true, value: fallback };
    const previous = this.current;
    this.current = context;
    this.env.callWatch?.enter();
    try {
      const value = f(...args);
      return { ok: true, value: typeof value === 'number' ? value : Number(value ?? 0) };
    } catch (err) {
      this.failed = true;
      this.stopTimer();
      // Paused streams would wait forever: wake them so they apply the fail strategy.
      for (const ctx of this.contexts.values()) if (ctx instanceof StreamContextState) ctx.resume();
      this.env.hostLog(
        this.index,
        LogLevel.CRITICAL,
        `wasm trap in ${name} (context ${context.id}): ${describe(err)}; VM ${this.index} is now failed`,
      );
      return { ok: false };
    } finally {
      this.env.callWatch?.exit();
      this.current = previous;
    }
  }

  setEffectiveContext(contextId: number): boolean {
    const ctx = this.contexts.get(contextId);
    if (!ctx) return false;
    this.current = ctx;
    return true;
  }

  nextHttpCallToken(): number {
    return this.nextToken++;
  }

  rootDone(): boolean {
    if (!this.root) return false;
    this.root.doneCalled = true;
    this.root.onDoneCalled?.();
    return true;
  }

  newContextId(): number {
    return this.nextContextId++;
  }

  /** proxy_on_context_create(root, 0), proxy_on_vm_start, proxy_on_configure; throws PluginLoadError. */
  startRootContext(): void {
    const root = new RootContextState(this.newContextId());
    this.root = root;
    this.contexts.set(root.id, root);
    const step = (name: string, args: number[]): number => {
      const r = this.call(name, root, args, 1);
      if (!r.ok) throw new PluginLoadError(`Wasm VM ${this.index} trapped in ${name}`);
      return r.value;
    };
    step('proxy_on_context_create', [root.id, 0]);
    if (step('proxy_on_vm_start', [root.id, this.env.config.vmConfig.length]) === 0) {
      throw new PluginLoadError(`proxy_on_vm_start returned false on VM ${this.index}`);
    }
    this.inConfigure = true;
    try {
      if (step('proxy_on_configure', [root.id, this.env.config.pluginConfig.length]) === 0) {
        throw new PluginLoadError(`proxy_on_configure returned false on VM ${this.index}`);
      }
    } finally {
      this.inConfigure = false;
    }
  }

  createStreamContext(
    sourceAddress: string,
    destinationAddress: string,
  ): StreamContextState | undefined {
    const ctx = new StreamContextState(
      this.newContextId(),
      this.root.id,
      this.env.config.now(),
      sourceAddress,
      destinationAddress,
    );
    this.contexts.set(ctx.id, ctx);
    if (!this.call('proxy_on_context_create', ctx, [ctx.id, this.root.id]).ok) return undefined;
    return ctx;
  }

  /** A network filter context for one TCP connection; undefined when context creation trapped. */
  createNetworkContext(
    sourceAddress: string,
    destinationAddress: string,
  ): NetworkContextState | undefined {
    const ctx = new NetworkContextState(
      this.newContextId(),
      this.root.id,
      this.env.config.now(),
      sourceAddress,
      destinationAddress,
    );
    this.contexts.set(ctx.id, ctx);
    if (!this.call('proxy_on_context_create', ctx, [ctx.id, this.root.id]).ok) return undefined;
    return ctx;
  }

  // ---- ticks -------------------------------------------------------------------------------------

  setTickPeriod(ms: number): void {
    this.tickPeriodMs = ms;
    if (this.env.config.autoTick) this.armTimer();
  }

  private armTimer(): void {
    this.stopTimer();
    if (this.tickPeriodMs <= 0 || this.closed || this.failed) return;
    this.tickTimer = setTimeout(() => {
      this.tickTimer = undefined;
      this.runTick();
    }, this.tickPeriodMs);
    this.tickTimer.unref();
  }

  stopTimer(): void {
    if (this.tickTimer) clearTimeout(this.tickTimer);
    this.tickTimer = undefined;
  }

  /** proxy_on_tick on the root context; the timer is re-armed only after it returns. */
  runTick(): void {
    if (this.closed || this.failed) return;
    this.call('proxy_on_tick', this.root, [this.root.id]);
    if (this.env.config.autoTick) this.armTimer();
  }

  // ---- http calls --------------------------------------------------------------------------------

  track(work: Promise<void>): void {
    this.inFlight.add(work);
    void work.finally(() => this.inFlight.delete(work));
  }

  /** Delivers an http call's outcome to the root context (Envoy hands callouts to the root). */
  deliverHttpCallResponse(
    token: number,
    response: LiveHttpCallResponse | undefined,
    error?: string,
  ): void {
    if (this.closed) return;
    this.lastStatus = response
      ? { code: Status.OK, message: '' }
      : { code: Status.BROKEN_CONNECTION, message: error ?? 'reset' };
    this.httpCallResponse = response;
    try {
      this.call('proxy_on_http_call_response', this.root, [
        this.root.id,
        token,
        response?.headers.size ?? 0,
        response?.body.length ?? 0,
        response?.trailers.size ?? 0,
      ]);
    } finally {
      this.httpCallResponse = undefined;
    }
  }

  // ---- shared queues -----------------------------------------------------------------------------

  deliverQueueReady(contextId: number, queueId: number): void {
    const ctx = this.contexts.get(contextId);
    if (!ctx || this.closed) return;
    this.call('proxy_on_queue_ready', ctx, [ctx.id, queueId]);
  }

  // ---- shutdown ----------------------------------------------------------------------------------

  /** Root on_done; if it answers false, waits (bounded) for proxy_done(); then on_delete. */
  async shutdown(waitForDoneMs: number): Promise<void> {
    this.stopTimer();
    const root = this.root;
    if (!root || this.failed) {
      this.closed = true;
      return;
    }
    const done = this.call('proxy_on_done', root, [root.id], 1);
    if (done.ok && done.value === 0 && !root.doneCalled) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, waitForDoneMs);
        root.onDoneCalled = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    this.call('proxy_on_delete', root, [root.id]);
    this.closed = true;
    this.stopTimer();
  }

  get memoryBytes(): number {
    return this.memory.byteLength;
  }

  streamContext(): StreamContextState | undefined {
    return this.current instanceof StreamContextState ? this.current : undefined;
  }
}
