import { OciError } from './errors';
import { discard, readBody } from './http-body';
import { networkCause } from './network-cause';
import { printable } from './terminal-text';

/** A token response is a small JSON object; anything near this is not one. */
const MAX_TOKEN_RESPONSE_BYTES = 256 * 1024;

export interface Credentials {
  username: string;
  password: string;
}

export type Challenge =
  | { scheme: 'basic'; realm?: string }
  | { scheme: 'bearer'; realm: string; service?: string; scope?: string };

const PARAM = /([a-zA-Z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))/g;

/** Parses the registry's `WWW-Authenticate` header (one challenge; registries send one). */
export function parseChallenge(header: string | null): Challenge | undefined {
  if (!header) return undefined;
  const match = /^\s*(\w+)\s*(.*)$/s.exec(header);
  if (!match) return undefined;
  const params = new Map<string, string>();
  for (const p of match[2].matchAll(PARAM)) {
    params.set(p[1].toLowerCase(), (p[2] ?? p[3]).replace(/\\(.)/g, '$1'));
  }
  const scheme = match[1].toLowerCase();
  if (scheme === 'basic') return { scheme: 'basic', realm: params.get('realm') };
  if (scheme === 'bearer') {
    const realm = params.get('realm');
    if (!realm) return undefined;
    return { scheme: 'bearer', realm, service: params.get('service'), scope: params.get('scope') };
  }
  return undefined;
}

export function basicAuthorization(credentials: Credentials): string {
  const pair = `${credentials.username}:${credentials.password}`;
  return `Basic ${Buffer.from(pair, 'utf8').toString('base64')}`;
}

export interface TokenRequest {
  challenge: Extract<Challenge, { scheme: 'bearer' }>;
  scopes: string[];
  credentials?: Credentials;
  insecure: boolean;
  timeoutMs: number;
}

/**
 * The token flow of the distribution spec: GET realm?service=..&scope=.. (with basic credentials when we have
 * them) and use the `token` (or `access_token`) it answers as a bearer token.
 */
export async function fetchBearerToken(request: TokenRequest): Promise<string> {
  const { challenge, scopes, credentials, insecure, timeoutMs } = request;
  let url: URL;
  try {
    url = new URL(challenge.realm);
  } catch {
    throw new OciError(
      'auth',
      `the registry named an invalid token realm "${printable(challenge.realm, 200)}"`,
    );
  }
  if (url.protocol !== 'https:' && !(insecure && url.protocol === 'http:')) {
    throw new OciError(
      'auth',
      `refusing to ask token realm ${url.origin} over ${url.protocol} (use --insecure only for registries you trust)`,
    );
  }
  if (challenge.service) url.searchParams.set('service', challenge.service);
  for (const scope of scopes) url.searchParams.append('scope', scope);
  const headers: Record<string, string> = { accept: 'application/json' };
  if (credentials) headers.authorization = basicAuthorization(credentials);
  let res: Response;
  try {
    res = await fetch(url, { headers, signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    throw new OciError(
      'unreachable',
      `cannot reach token endpoint ${url.origin}: ${networkCause(err)}`,
    );
  }
  if (res.status === 401 || res.status === 403) {
    await discard(res);
    throw new OciError(
      'auth',
      credentials
        ? `the token endpoint ${url.origin} rejected the credentials of "${credentials.username}" (HTTP ${res.status})`
        : `the token endpoint ${url.origin} requires credentials (HTTP ${res.status}): pass --username/--password`,
    );
  }
  if (!res.ok) {
    await discard(res);
    throw new OciError('auth', `the token endpoint ${url.origin} answered HTTP ${res.status}`);
  }
  const data = await readBody(res, {
    maxBytes: MAX_TOKEN_RESPONSE_BYTES,
    what: `the token response of ${url.origin}`,
    tooLarge: 'auth',
  });
  let body: { token?: unknown; access_token?: unknown } | undefined;
  try {
    body = JSON.parse(data.toString('utf8')) as typeof body;
  } catch {
    body = undefined;
  }
  const token = body?.token ?? body?.access_token;
  if (typeof token !== 'string' || token === '') {
    throw new OciError('auth', `the token endpoint ${url.origin} answered no token`);
  }
  return token;
}
