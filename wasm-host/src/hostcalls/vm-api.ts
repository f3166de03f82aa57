import type { AbiVersion } from '../abi';
import type { AnyContext, RootContextState, StreamContextState } from '../contexts';
import type { GuestMemory } from '../guest-memory';
import type { HeaderMap } from '../header-map';
import type { HostEnv } from '../host-env';
import type { MetricIds } from '../metric-ids';

/** Response of an http call, visible (map 6/7, buffer 4) only while its callback runs. */
export interface LiveHttpCallResponse {
  headers: HeaderMap;
  trailers: HeaderMap;
  body: Buffer;
}

/**
 * What host calls may see and do on the VM that runs them (cpp-host's ContextBase plays this part).
 * Host calls depend on this interface only; `Vm` implements it.
 */
export interface VmApi {
  readonly index: number;
  readonly abi: AbiVersion;
  readonly env: HostEnv;
  readonly memory: GuestMemory;
  readonly root: RootContextState;
  readonly metricIds: MetricIds;
  /** The running callback's context, or the one set with proxy_set_effective_context. */
  readonly current: AnyContext | undefined;
  /** True only during proxy_on_configure (PLUGIN_CONFIGURATION is readable then, as in Envoy). */
  readonly inConfigure: boolean;
  readonly httpCallResponse: LiveHttpCallResponse | undefined;
  /** What proxy_get_status reports: the outcome of the last http call delivered. */
  readonly lastStatus: { readonly code: number; readonly message: string };
  streamContext(): StreamContextState | undefined;
  /** proxy_set_effective_context; false when no such context exists. */
  setEffectiveContext(contextId: number): boolean;
  setTickPeriod(ms: number): void;
  nextHttpCallToken(): number;
  /** Keeps `work` (an http call) counted as in flight until it settles. */
  track(work: Promise<void>): void;
  deliverHttpCallResponse(
    token: number,
    response: LiveHttpCallResponse | undefined,
    error?: string,
  ): void;
  /** proxy_done from the root context; false when there is no root yet. */
  rootDone(): boolean;
}
