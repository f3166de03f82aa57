/** A request path that is not origin-form or would move the request off its base URL's origin. */
export class RequestTargetError extends Error {
  override readonly name = 'RequestTargetError';
}

const shown = (path: string) =>
  JSON.stringify(path.length > 100 ? `${path.slice(0, 100)}...` : path);

/**
 * base URL + request path (":path", origin-form: "/" then path, optional "?query") -> a URL on base's origin.
 * The path is appended to base's own path and never parsed as a URL, so "@host", "//host" or "http://host"
 * cannot change where the request goes. A fragment is dropped, as no client sends one.
 */
export function urlOnOrigin(base: URL, path: string): URL {
  if (!path.startsWith('/')) {
    throw new RequestTargetError(`request path must start with "/", got ${shown(path)}`);
  }
  const hash = path.indexOf('#');
  const target = hash >= 0 ? path.slice(0, hash) : path;
  const query = target.indexOf('?');
  const url = new URL(base.href);
  url.pathname = base.pathname.replace(/\/$/, '') + (query >= 0 ? target.slice(0, query) : target);
  url.search = query >= 0 ? target.slice(query) : '';
  url.hash = '';
  if (url.origin !== base.origin) {
    throw new RequestTargetError(`request path ${shown(path)} leaves ${base.origin}`);
  }
  return url;
}

export type HeaderRecord = Record<string, string | string[]>;

/**
 * Header pairs -> the record node:http wants, repeated names as arrays, on a null prototype so header names
 * such as "__proto__" stay plain keys. `skip` leaves names out (pseudo-headers, hop-by-hop).
 */
export function headerRecord(
  pairs: Iterable<readonly [string, string]>,
  skip: (name: string) => boolean = () => false,
): HeaderRecord {
  const headers = Object.create(null) as HeaderRecord;
  for (const [k, v] of pairs) {
    if (skip(k)) continue;
    const prev = headers[k];
    headers[k] = prev === undefined ? v : ([] as string[]).concat(prev, v);
  }
  return headers;
}
