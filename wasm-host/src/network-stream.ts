import { LogLevel } from './abi';
import { NetworkContextState, PeerType } from './contexts';
import type { FailStrategy } from './types';
import type { Vm } from './vm';

/** Where a proxied connection's bytes go. */
export interface ConnectionSink {
  toUpstream(chunk: Buffer): void | Promise<void>;
  toDownstream(chunk: Buffer): void | Promise<void>;
  /** Half-close (end) or close that side, after what was written is flushed. */
  endUpstream(): void;
  endDownstream(): void;
  closeDownstream(): void;
  closeUpstream(): void;
}

/** FilterStatus (proxy-wasm ABI) for network filters. */
const CONTINUE = 0;

/**
 * One TCP connection through a VM's network filter, driven as Envoy's Wasm network filter is:
 * proxy_on_context_create, proxy_on_new_connection, then proxy_on_downstream_data /
 * proxy_on_upstream_data per read (data_size = what the buffer holds, end_of_stream on the peer's FIN),
 * proxy_on_upstream_connection_close when the upstream ended, proxy_on_downstream_connection_close
 * when the client's connection closed, and then proxy_on_done, proxy_on_log, proxy_on_delete once.
 * StopIteration (1) from a data callback keeps the bytes; the next read of that side shows them again
 * with the new bytes appended (Envoy's read buffer), Continue sends all of it on.
 */
export class NetworkStream {
  private chain: Promise<void> = Promise.resolve();
  private passThrough: boolean;
  private finished = false;
  private downstreamClosed = false;
  private upstreamClosed = false;
  private resolveDone!: () => void;
  readonly done = new Promise<void>((resolve) => {
    this.resolveDone = resolve;
  });

  constructor(
    private readonly vm: Vm,
    private readonly ctx: NetworkContextState | undefined,
    private readonly sink: ConnectionSink,
    private readonly failStrategy: FailStrategy,
  ) {
    this.passThrough = ctx === undefined;
  }

  /**
   * proxy_on_new_connection. False: the connection must not be proxied (fail closed, or the plugin closed
   * it); the downstream is closed already.
   */
  start(): boolean {
    if (!this.ctx) {
      if (this.failStrategy === 'FAIL_OPEN') return true;
      this.sink.closeDownstream();
      void this.finish();
      return false;
    }
    const r = this.vm.call('proxy_on_new_connection', this.ctx, [this.ctx.id]);
    if (!r.ok && !this.onFailure()) return false;
    return this.applyCloses();
  }

  downstreamData(chunk: Buffer, endOfStream: boolean): void {
    this.then(() => this.onData('downstream', chunk, endOfStream));
  }

  upstreamData(chunk: Buffer, endOfStream: boolean): void {
    this.then(() => this.onData('upstream', chunk, endOfStream));
  }

  /** The client's connection closed (remote: the client closed it; local: the proxy did). */
  downstreamConnectionClosed(peer: PeerType = PeerType.REMOTE): void {
    this.then(() => {
      if (this.downstreamClosed) return;
      this.downstreamClosed = true;
      this.callClose('proxy_on_downstream_connection_close', peer);
      return this.finish();
    });
  }

  upstreamConnectionClosed(peer: PeerType = PeerType.UNKNOWN): void {
    this.then(() => this.onUpstreamClosed(peer));
  }

  private onUpstreamClosed(peer: PeerType): void {
    if (this.upstreamClosed) return;
    this.upstreamClosed = true;
    this.callClose('proxy_on_upstream_connection_close', peer);
  }

  private then(work: () => void | Promise<void>): void {
    this.chain = this.chain
      .then(() => (this.finished ? undefined : work()))
      .catch((err: unknown) => {
        this.vm.env.hostLog(this.vm.index, LogLevel.ERROR, `connection failed: ${String(err)}`);
        this.sink.closeDownstream();
        this.sink.closeUpstream();
      });
  }

  private get pluginActive(): boolean {
    return !this.passThrough && this.ctx !== undefined && !this.vm.failed;
  }

  /** A trap: FAIL_OPEN carries on without the plugin (true), FAIL_CLOSE closes both ends (false). */
  private onFailure(): boolean {
    this.passThrough = true;
    if (this.failStrategy === 'FAIL_OPEN') return true;
    this.sink.closeDownstream();
    this.sink.closeUpstream();
    return false;
  }

  /** proxy_close_stream(DOWNSTREAM / UPSTREAM) from the plugin; false once the downstream is closed. */
  private applyCloses(): boolean {
    const ctx = this.ctx;
    if (!ctx) return true;
    if (ctx.closeUpstream) {
      ctx.closeUpstream = false;
      this.sink.closeUpstream();
    }
    if (ctx.closeDownstream) {
      ctx.closeDownstream = false;
      this.sink.closeDownstream();
      return false;
    }
    return true;
  }

  private async onData(
    side: 'downstream' | 'upstream',
    chunk: Buffer,
    eos: boolean,
  ): Promise<void> {
    const forward = async (bytes: Buffer) => {
      if (side === 'downstream') {
        if (bytes.length > 0) await this.sink.toUpstream(bytes);
        if (eos) this.sink.endUpstream();
      } else {
        if (bytes.length > 0) await this.sink.toDownstream(bytes);
        if (eos) this.sink.endDownstream();
      }
    };
    const ctx = this.ctx;
    if (!this.pluginActive || !ctx) return forward(chunk);
    const held = side === 'downstream' ? ctx.downstreamData : ctx.upstreamData;
    const buffer = held.length > 0 ? Buffer.concat([held, chunk]) : chunk;
    if (side === 'downstream') ctx.downstreamData = buffer;
    else ctx.upstreamData = buffer;
    ctx.liveData = side;
    const name = side === 'downstream' ? 'proxy_on_downstream_data' : 'proxy_on_upstream_data';
    const r = this.vm.call(name, ctx, [ctx.id, buffer.length, eos ? 1 : 0]);
    ctx.liveData = undefined;
    const out = side === 'downstream' ? ctx.downstreamData : ctx.upstreamData;
    const empty = Buffer.alloc(0);
    if (side === 'downstream') ctx.downstreamData = empty;
    else ctx.upstreamData = empty;
    if (!r.ok) {
      if (this.onFailure()) await forward(buffer);
      return;
    }
    if (!this.applyCloses()) return;
    if (r.value === CONTINUE) await forward(out);
    else if (side === 'downstream') ctx.downstreamData = out;
    else ctx.upstreamData = out;
    // Envoy reports the upstream's end right after the data that carried it.
    if (side === 'upstream' && eos) this.onUpstreamClosed(PeerType.UNKNOWN);
  }

  private callClose(name: string, peer: PeerType): void {
    if (this.pluginActive && this.ctx) {
      const r = this.vm.call(name, this.ctx, [this.ctx.id, peer]);
      if (!r.ok) this.passThrough = true;
    }
  }

  /** on_done, on_log, on_delete, once the downstream connection is gone (Envoy's onCloseTCP). */
  private async finish(): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    const { vm, ctx } = this;
    if (ctx) {
      ctx.phase = 'done';
      if (!vm.failed) {
        vm.call('proxy_on_done', ctx, [ctx.id], 1);
        vm.call('proxy_on_log', ctx, [ctx.id]);
        vm.call('proxy_on_delete', ctx, [ctx.id]);
      }
      vm.contexts.delete(ctx.id);
    }
    this.resolveDone();
  }
}
