interface ErrorLike {
  name?: unknown;
  message?: unknown;
  code?: unknown;
  cause?: unknown;
}

/** The reason behind undici's generic "fetch failed" (ECONNREFUSED, ENOTFOUND, a TLS error...). */
export function networkCause(err: unknown): string {
  // Duck-typed on purpose: undici's errors may come from another realm (test sandboxes), so instanceof fails.
  const e = (typeof err === 'object' && err !== null ? err : {}) as ErrorLike;
  if (e.name === 'TimeoutError') return 'timed out';
  const cause = (typeof e.cause === 'object' && e.cause !== null ? e.cause : undefined) as
    ErrorLike | undefined;
  if (cause) {
    const message = typeof cause.message === 'string' ? cause.message : '';
    return typeof cause.code === 'string'
      ? `${cause.code} ${message}`.trim()
      : message || String(cause);
  }
  return typeof e.message === 'string' ? e.message : String(err);
}
