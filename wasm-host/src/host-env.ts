import type { LogLevel } from './abi';
import type { HttpCallClient } from './http-client';
import type { StreamLimits } from './stream-limits';
import type { MetricsStore } from './metrics-store';
import type { IstioHostConfig } from './istio/stream-properties';
import type { SharedDataApi, SharedQueuesApi } from './shared-state';
import type { FailStrategy, HttpCallRecord } from './types';
import type { UpstreamCluster } from './upstream-cluster';

/** Host options with defaults applied. */
export interface ResolvedConfig {
  pluginConfig: Buffer;
  vmConfig: Buffer;
  clusters: Map<string, UpstreamCluster>;
  nodeMetadata: Map<string, string>;
  pluginName: string;
  rootId: string;
  vmId: string;
  logLevel: LogLevel;
  failStrategy: FailStrategy;
  autoTick: boolean;
  now: () => bigint;
  maxHttpCallResponseBytes: number;
  /** Istio's view around the plugin (listener direction, structured node metadata, cluster). */
  istio: IstioHostConfig;
  streamLimits: StreamLimits;
}

/** What the VMs of one host share. */
export interface HostEnv {
  readonly config: ResolvedConfig;
  readonly metrics: MetricsStore;
  readonly shared: SharedDataApi;
  readonly queues: SharedQueuesApi;
  readonly httpClient: HttpCallClient;
  recordHttpCall(record: HttpCallRecord): void;
  pluginLog(vm: number, level: LogLevel, message: string): void;
  hostLog(vm: number, level: LogLevel, message: string): void;
  /** Logs once per host that a guest called something this host does not implement. */
  unimplemented(vm: number, name: string): void;
  countHostCall(): void;
  /** Told when a guest callback starts and returns (the worker watchdog's clock). */
  callWatch?: { enter(): void; exit(): void };
}
