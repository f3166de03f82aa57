import xxhash from 'xxhash-wasm';

/** xxHash64 with seed 0, the hash Envoy's ring hash uses by default (HashUtil::xxHash64). */
export type Hash64 = (key: string) => bigint;

let hasher: Promise<Hash64> | undefined;

/** The xxHash64 function, once its WebAssembly module is instantiated (shared by every ring). */
export function xxHash64(): Promise<Hash64> {
  hasher ??= xxhash().then((api) => (key: string) => api.h64(key));
  return hasher;
}

/** Envoy's defaults (RingHashLbConfig minimum_ring_size, maximum_ring_size). */
export const MIN_RING_SIZE = 1024;
export const MAX_RING_SIZE = 8 * 1024 * 1024;

/**
 * Points per endpoint on Envoy's ring for `n` equally weighted endpoints
 * (source/extensions/load_balancing_policies/ring_hash/ring_hash_lb.cc): normalized weight 1/n, scaled so
 * the lightest gets whole points (ceil(min ring size / n) each), capped by the max ring size, handed out with
 * running sums.
 */
export function envoyPointCounts(
  n: number,
  minRingSize = MIN_RING_SIZE,
  maxRingSize = MAX_RING_SIZE,
): number[] {
  if (n === 0) return [];
  const weight = 1 / n;
  const scale = Math.min(Math.ceil(weight * minRingSize) / weight, maxRingSize);
  const counts: number[] = [];
  let current = 0;
  let target = 0;
  for (let k = 0; k < n; k++) {
    target += scale * weight;
    let points = 0;
    for (; current < target; current++) points++;
    counts.push(points);
  }
  return counts;
}

/**
 * A consistent-hash ring built the way Envoy's ring hash load balancer builds it: point i of endpoint `key`
 * at xxHash64(`${key}_${i}`), sorted by hash; a request hash picks the first point at or after it, wrapping
 * to the first point. `counts` says how many points each key gets (Envoy's, for these keys, by default). An
 * endpoint's points depend on its key and count only, so a ring without one endpoint, the others keeping
 * their counts, moves only the requests that hashed to it.
 */
export class RingHash {
  private readonly hashes: BigUint64Array;
  /** endpoint index of each point, in the order of `hashes`. */
  private readonly owners: Uint32Array;

  constructor(
    keys: readonly string[],
    hash: Hash64,
    counts: readonly number[] = envoyPointCounts(keys.length),
  ) {
    const points: Array<{ hash: bigint; owner: number }> = [];
    keys.forEach((key, owner) => {
      for (let i = 0; i < counts[owner]; i++) points.push({ hash: hash(`${key}_${i}`), owner });
    });
    points.sort((a, b) => (a.hash < b.hash ? -1 : a.hash > b.hash ? 1 : 0));
    this.hashes = BigUint64Array.from(points, (p) => p.hash);
    this.owners = Uint32Array.from(points, (p) => p.owner);
  }

  get size(): number {
    return this.hashes.length;
  }

  /** Index (into the keys given) of the endpoint owning `h`; -1 on an empty ring. */
  pick(h: bigint): number {
    const n = this.hashes.length;
    if (n === 0) return -1;
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.hashes[mid] < h) lo = mid + 1;
      else hi = mid;
    }
    return this.owners[lo === n ? 0 : lo];
  }
}
