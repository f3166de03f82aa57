import { MAX_PAIRS_BYTES, MAX_PAIRS_COUNT } from './abi';

export type HeaderPairs = Array<[string, string]>;

/**
 * Envoy's pair serialization: u32 count, then u32 key/value lengths per pair, then `key\0value\0` per
 * pair, little-endian. An empty map serializes to zero bytes.
 */
export function encodePairs(pairs: ReadonlyArray<readonly [string, string]>): Buffer {
  if (pairs.length === 0) return Buffer.alloc(0);
  const encoded = pairs.map(([k, v]) => [Buffer.from(k, 'utf8'), Buffer.from(v, 'utf8')] as const);
  let size = 4 + encoded.length * 8;
  for (const [k, v] of encoded) size += k.length + v.length + 2;
  const out = Buffer.alloc(size);
  out.writeUInt32LE(encoded.length, 0);
  let pos = 4;
  for (const [k, v] of encoded) {
    out.writeUInt32LE(k.length, pos);
    out.writeUInt32LE(v.length, pos + 4);
    pos += 8;
  }
  for (const [k, v] of encoded) {
    k.copy(out, pos);
    pos += k.length + 1;
    v.copy(out, pos);
    pos += v.length + 1;
  }
  return out;
}

/**
 * Strict parser, as cpp-host's: anything malformed (short, trailing bytes, missing NUL, too many pairs)
 * yields `undefined`; callers treat that as an empty map.
 */
export function decodePairs(data: Uint8Array): HeaderPairs | undefined {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (buf.length === 0) return [];
  if (buf.length > MAX_PAIRS_BYTES || buf.length < 4) return undefined;
  const count = buf.readUInt32LE(0);
  if (count > MAX_PAIRS_COUNT) return undefined;
  let pos = 4;
  if (pos + count * 8 > buf.length) return undefined;
  const sizes: Array<[number, number]> = [];
  for (let i = 0; i < count; i++) {
    sizes.push([buf.readUInt32LE(pos), buf.readUInt32LE(pos + 4)]);
    pos += 8;
  }
  const pairs: HeaderPairs = [];
  const take = (len: number): string | undefined => {
    if (pos + len + 1 > buf.length || buf[pos + len] !== 0) return undefined;
    const s = buf.toString('utf8', pos, pos + len);
    pos += len + 1;
    return s;
  };
  for (const [kl, vl] of sizes) {
    const key = take(kl);
    if (key === undefined) return undefined;
    const value = take(vl);
    if (value === undefined) return undefined;
    pairs.push([key, value]);
  }
  return pos === buf.length ? pairs : undefined;
}

/** A mutable header map with Envoy's semantics: keys are lower-cased, order is kept. */
export class HeaderMap {
  readonly pairs: HeaderPairs;

  constructor(pairs: ReadonlyArray<readonly [string, string]> = []) {
    this.pairs = pairs.map(([k, v]) => [k.toLowerCase(), v]);
  }

  get size(): number {
    return this.pairs.length;
  }

  get(key: string): string | undefined {
    const k = key.toLowerCase();
    return this.pairs.find(([pk]) => pk === k)?.[1];
  }

  add(key: string, value: string): void {
    this.pairs.push([key.toLowerCase(), value]);
  }

  /** Sets the first entry of `key` to `value` and drops the others; adds it when absent. */
  replace(key: string, value: string): void {
    const k = key.toLowerCase();
    const first = this.pairs.findIndex(([pk]) => pk === k);
    if (first < 0) {
      this.pairs.push([k, value]);
      return;
    }
    this.pairs[first] = [k, value];
    this.removeFrom(k, first + 1);
  }

  remove(key: string): void {
    this.removeFrom(key.toLowerCase(), 0);
  }

  setAll(pairs: ReadonlyArray<readonly [string, string]>): void {
    this.pairs.length = 0;
    for (const [k, v] of pairs) this.pairs.push([k.toLowerCase(), v]);
  }

  copy(): HeaderPairs {
    return this.pairs.map(([k, v]) => [k, v]);
  }

  private removeFrom(k: string, start: number): void {
    for (let i = this.pairs.length - 1; i >= start; i--)
      if (this.pairs[i][0] === k) this.pairs.splice(i, 1);
  }
}
