import type { PostOutcome } from './http-post';

/** What to do with a batch after one attempt. */
export type Verdict =
  | { action: 'done' }
  | { action: 'retry'; reason: string; retryAfterMs?: number }
  | { action: 'drop'; reason: string };

/** Longest Retry-After honoured; a receiver asking for more gets asked again after this. */
export const MAX_RETRY_AFTER_MS = 10 * 60_000;

/**
 * The remote-write spec's rules: 2xx is success; 5xx and 429 are retried with backoff (429 honouring
 * Retry-After); any other status means the receiver will never take this batch, which is dropped;
 * no answer at all is retried.
 */
export function judge(outcome: PostOutcome, nowMs: number): Verdict {
  if (outcome.kind === 'error') return { action: 'retry', reason: outcome.message };
  const { status } = outcome;
  if (status >= 200 && status < 300) return { action: 'done' };
  const reason = `HTTP ${status}${outcome.body ? `: ${outcome.body.trim()}` : ''}`;
  if (status === 429 || status >= 500) {
    const header = outcome.headers['retry-after'];
    const retryAfterMs = parseRetryAfter(Array.isArray(header) ? header[0] : header, nowMs);
    return { action: 'retry', reason, retryAfterMs };
  }
  return { action: 'drop', reason };
}

/** Retry-After as delay-seconds or an HTTP-date, in ms from `nowMs`; undefined when absent or unreadable. */
export function parseRetryAfter(header: string | undefined, nowMs: number): number | undefined {
  if (header === undefined) return undefined;
  const text = header.trim();
  let ms: number;
  if (/^\d+$/.test(text)) ms = Number(text) * 1000;
  else {
    const at = Date.parse(text);
    if (Number.isNaN(at)) return undefined;
    ms = at - nowMs;
  }
  return Math.min(Math.max(ms, 0), MAX_RETRY_AFTER_MS);
}

/** Exponential backoff: `minMs` doubled per failed attempt, at most `maxMs`. */
export function backoffMs(failures: number, minMs: number, maxMs: number): number {
  return Math.min(maxMs, minMs * 2 ** Math.min(Math.max(failures - 1, 0), 30));
}
