import { encodePairs } from '../header-map';

/** A structured property value (a JSON-like tree), as Envoy holds node metadata, cluster metadata
 * and filter state: strings, numbers, booleans, lists and string-keyed maps. */
export type TreeValue = string | number | boolean | bigint | TreeValue[] | TreeMap;
export interface TreeMap {
  [key: string]: TreeValue;
}

export const isTreeMap = (v: TreeValue | undefined): v is TreeMap =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Own keys only: a property path segment such as `__proto__` or `constructor` finds nothing. */
function child(value: TreeValue, segment: string): TreeValue | undefined {
  if (Array.isArray(value)) {
    // An emulator convenience: Envoy's property path may not index lists (see wasm-host/README).
    if (!/^(0|[1-9][0-9]{0,5})$/.test(segment)) return undefined;
    return value[Number(segment)];
  }
  if (isTreeMap(value) && Object.prototype.hasOwnProperty.call(value, segment)) {
    return value[segment];
  }
  return undefined;
}

/** The value at `path` below `root`, or undefined. */
export function walkTree(
  root: TreeValue | undefined,
  path: readonly string[],
): TreeValue | undefined {
  let at: TreeValue | undefined = root;
  for (const segment of path) {
    if (at === undefined) return undefined;
    at = child(at, segment);
  }
  return at;
}

function int64(v: bigint | number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigInt64LE(BigInt(v));
  return b;
}

/**
 * Envoy's serialization of a property value (source/extensions/common/wasm/context.cc,
 * serializeValue): strings raw, integers 8-byte little-endian, doubles 8-byte IEEE, booleans one
 * byte, a map as header-map pairs of its string values. Lists have no serialization: NOT_FOUND.
 */
export function encodeTreeValue(value: TreeValue | undefined): Buffer | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  if (typeof value === 'bigint') return int64(value);
  if (typeof value === 'number') {
    if (Number.isSafeInteger(value)) return int64(value);
    const b = Buffer.alloc(8);
    b.writeDoubleLE(value);
    return b;
  }
  if (typeof value === 'boolean') return Buffer.from([value ? 1 : 0]);
  if (Array.isArray(value)) return undefined;
  const pairs: Array<[string, string]> = [];
  for (const [k, v] of Object.entries(value)) {
    if (typeof v === 'string') pairs.push([k, v]);
  }
  return encodePairs(pairs);
}

/** A deep copy with only own enumerable keys, into null-prototype maps (no prototype pollution). */
export function cleanTree(value: unknown, depth = 0): TreeValue | undefined {
  if (depth > 32) return undefined;
  if (typeof value === 'string' || typeof value === 'boolean' || typeof value === 'bigint')
    return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (Array.isArray(value)) {
    const out: TreeValue[] = [];
    for (const item of value) {
      const c = cleanTree(item, depth + 1);
      if (c !== undefined) out.push(c);
    }
    return out;
  }
  if (typeof value === 'object' && value !== null) {
    const out = Object.create(null) as TreeMap;
    for (const [k, v] of Object.entries(value)) {
      const c = cleanTree(v, depth + 1);
      if (c !== undefined) out[k] = c;
    }
    return out;
  }
  return undefined;
}
