/**
 * Envoy's core response flags in bit order (envoy/stream_info/stream_info.h, CoreResponseFlag; the
 * `response.flags` property is this bitmask) with their short strings
 * (source/common/stream_info/utility.cc, ResponseFlagUtils::toShortString joins them with ',').
 */
export const RESPONSE_FLAGS: readonly string[] = [
  'LH', // FailedLocalHealthCheck
  'UH', // NoHealthyUpstream
  'UT', // UpstreamRequestTimeout
  'LR', // LocalReset
  'UR', // UpstreamRemoteReset
  'UF', // UpstreamConnectionFailure
  'UC', // UpstreamConnectionTermination
  'UO', // UpstreamOverflow
  'NR', // NoRouteFound
  'DI', // DelayInjected
  'FI', // FaultInjected
  'RL', // RateLimited
  'UAEX', // UnauthorizedExternalService
  'RLSE', // RateLimitServiceError
  'DC', // DownstreamConnectionTermination
  'URX', // UpstreamRetryLimitExceeded
  'SI', // StreamIdleTimeout
  'IH', // InvalidEnvoyRequestHeaders
  'DPE', // DownstreamProtocolError
  'UMSDR', // UpstreamMaxStreamDurationReached
  'RFCF', // ResponseFromCacheFilter
  'NFCF', // NoFilterConfigFound
  'DT', // DurationTimeout
  'UPE', // UpstreamProtocolError
  'NC', // NoClusterFound
  'OM', // OverloadManager
  'DF', // DnsResolutionFailed
  'DO', // DropOverLoad
  'DR', // DownstreamRemoteReset
  'UDO', // UnconditionalDropOverload
];

/** The bitmask of the given short flags (unknown names throw: they are a caller's mistake). */
export function responseFlagBits(flags: readonly string[]): number {
  let bits = 0;
  for (const flag of flags) {
    const i = RESPONSE_FLAGS.indexOf(flag);
    if (i < 0) throw new RangeError(`unknown Envoy response flag ${JSON.stringify(flag)}`);
    bits |= 1 << i;
  }
  return bits >>> 0;
}

/** Envoy's short string for a bitmask: the flags joined by ',', '-' for none. */
export function responseFlagsString(bits: number): string {
  const names = RESPONSE_FLAGS.filter((_, i) => (bits >>> i) & 1);
  return names.length === 0 ? '-' : names.join(',');
}
