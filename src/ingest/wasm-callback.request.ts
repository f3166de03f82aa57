import type { FastifyRequest } from 'fastify';
import { ReportRejected } from './report-rejected.exception';

/** Query parameters beyond this count are refused: the seed sends none, 100 leaves room. */
export const MAX_QUERY_PARAMS = 100;

/** Query parameters in arrival order; keys are plain data (a Map, so `__proto__` is just a key). */
export type QueryParams = ReadonlyArray<readonly [key: string, value: string]>;

/** One seed-style report, as received. */
export interface TextReport {
  receivedAtMs: number;
  params: QueryParams;
  melonMsg: string;
  body: Buffer;
  remoteAddress: string;
}

export function parseQuery(url: string): QueryParams {
  const start = url.indexOf('?');
  if (start < 0) return [];
  const params = [...new URLSearchParams(url.slice(start + 1))];
  if (params.length > MAX_QUERY_PARAMS) {
    throw new ReportRejected(
      'too_many_params',
      `too many query parameters: ${params.length} (at most ${MAX_QUERY_PARAMS})`,
    );
  }
  return params;
}

/**
 * Header bytes reach Node as latin1; Envoy forwards what the plugin set, normally UTF-8, so
 * non-ASCII values are decoded again as UTF-8.
 */
export function headerText(value: string): string {
  // eslint-disable-next-line no-control-regex
  return /[^\x00-\x7f]/.test(value) ? Buffer.from(value, 'latin1').toString('utf8') : value;
}

/** The melonMsg header (Envoy lower-cases header names, Node too); required and non-empty. */
export function melonMsgOf(request: FastifyRequest): string {
  const raw = request.headers['melonmsg'];
  const value = Array.isArray(raw) ? raw.join(', ') : raw;
  if (value === undefined || value.trim() === '') {
    throw new ReportRejected(
      'missing_header',
      'the melonMsg header is required and must not be empty',
    );
  }
  return headerText(value);
}

/** The raw body bytes (the catch-all content-type parser hands every body over as a Buffer). */
export function bodyOf(request: FastifyRequest): Buffer {
  return Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
}

export function parseTextReport(request: FastifyRequest, receivedAtMs: number): TextReport {
  return {
    receivedAtMs,
    params: parseQuery(request.url),
    melonMsg: melonMsgOf(request),
    body: bodyOf(request),
    remoteAddress: request.ip,
  };
}
