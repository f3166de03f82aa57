import type { LogLevel } from './abi';
import type { HttpCallClient } from './http-client';
import type { MetricsStore } from './metrics-store';
import type { SharedData, SharedQueues } from './shared-state';
import type { IstioHostConfig } from './istio/stream-properties';
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
}

/** What the VMs of one host share. */
export interface HostEnv {
  readonly config: ResolvedConfig;
  readonly metrics: MetricsStore;
  readonly shared: SharedData;
  readonly queues: SharedQueues;
  readonly httpClient: HttpCallClient;
  recordHttpCall(record: HttpCallRecord): void;
  pluginLog(vm: number, level: LogLevel, message: string): void;
  hostLog(vm: number, level: LogLevel, message: string): void;
  /** Logs once per host that a guest called something this host does not implement. */
  unimplemented(vm: number, name: string): void;
  countHostCall(): void;
}
