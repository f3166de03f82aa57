/** Bounds on what one HTTP stream may hold or a plugin may produce. */
export interface StreamLimits {
  /** Largest body a plugin may buffer or produce (Envoy's per-connection buffer limit, 1 MiB). */
  bufferLimitBytes: number;
  /** Largest header map a plugin may produce (Envoy's max_request_headers_kb default, 60 KiB). */
  maxHeaderBytes: number;
  /** A stream without any activity for this long ends (Envoy's stream_idle_timeout); 0 = never. */
  idleTimeoutMs: number;
}

export const DEFAULT_STREAM_LIMITS: StreamLimits = {
  bufferLimitBytes: 1 << 20,
  maxHeaderBytes: 60 << 10,
  idleTimeoutMs: 0,
};
