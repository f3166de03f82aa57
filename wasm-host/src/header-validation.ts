import type { HeaderPairs } from './header-map';

/** RFC 9110 field names (tchar), or a pseudo-header: ':' then the same. */
const NAME = /^:?[!#$%&'*+\-.^_`|~0-9a-zA-Z]+$/;
/** Field values: no CR, LF or NUL (RFC 9110 section 5.5); Envoy's codecs refuse them too. */
const BAD_VALUE = /[\r\n\0]/;

/**
 * Why a header map cannot go on the wire as it is, or undefined when it can: a bad name, a CR/LF/NUL in
 * a value, a :status that is not a 3-digit code, or more than `maxBytes` of names and values.
 */
export function invalidHeader(headers: HeaderPairs, maxBytes: number): string | undefined {
  let bytes = 0;
  for (const [name, value] of headers) {
    if (!NAME.test(name)) return `bad header name ${JSON.stringify(name.slice(0, 64))}`;
    if (BAD_VALUE.test(value)) return `CR, LF or NUL in the value of ${name}`;
    if (name === ':status' && !/^[1-5]\d\d$/.test(value))
      return `bad :status ${JSON.stringify(value.slice(0, 16))}`;
    bytes += Buffer.byteLength(name) + Buffer.byteLength(value);
  }
  if (bytes > maxBytes) return `headers of ${bytes} bytes exceed ${maxBytes}`;
  return undefined;
}
