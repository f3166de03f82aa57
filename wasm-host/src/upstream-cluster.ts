import { PluginLoadError } from './errors';
import { envoyPointCounts, RingHash, xxHash64, type Hash64 } from './ring-hash';

/** Envoy's outlier detection defaults: base_ejection_time 30 s, max_ejection_time 300 s. */
export const BASE_EJECTION_MS = 30_000;
export const MAX_EJECTION_MS = 300_000;
/** Rings kept for the sets of ejected endpoints seen; past it the cache starts over (memory stays bounded). */
const MAX_RINGS = 8;

interface Endpoint {
  url: URL;
  /** Where it sits on the ring: host:port, as Envoy hashes an endpoint's address. */
  key: string;
  ejectedUntilMs: number;
  /** Consecutive ejections; a successful call resets it (Envoy lengthens each ejection by this). */
  ejections: number;
}

/**
 * A cluster for proxy_http_call: one endpoint, or several behind a ring hash on the call's `:authority`
 * (Envoy's wasm httpCall sets a hash policy on the Host header: source/extensions/common/wasm/context.cc).
 * A call that fails without a response (refused, reset, timed out) ejects its endpoint from the ring for
 * 30 s × its consecutive ejections (at most 300 s), as outlier detection does with
 * consecutive_local_origin_failure 1; its keys, and only those, move to the other endpoints. When every
 * endpoint is ejected the ring over all of them is used (Envoy's panic mode).
 */
export class UpstreamCluster {
  private readonly endpoints: Endpoint[];
  /** Rings by the set of endpoints in them (`1,0,1` = in or out), built on first use, a few kept. */
  private readonly rings = new Map<string, RingHash>();
  private hash: Hash64 | undefined;

  constructor(
    readonly name: string,
    urls: readonly URL[],
    private readonly nowMs: () => number = Date.now,
  ) {
    this.endpoints = urls.map((url) => ({
      url,
      key: `${url.hostname}:${url.port || '80'}`,
      ejectedUntilMs: 0,
      ejections: 0,
    }));
  }

  /** Parses a cluster option (one base URL or several); throws PluginLoadError naming the cluster. */
  static parse(name: string, value: string | readonly string[]): UpstreamCluster {
    const list = typeof value === 'string' ? [value] : value;
    if (list.length === 0) throw new PluginLoadError(`cluster ${name}: no endpoint`);
    const urls = list.map((text) => {
      let url: URL;
      try {
        url = new URL(text);
      } catch {
        throw new PluginLoadError(`cluster ${name}: "${text}" is not a URL`);
      }
      if (url.protocol !== 'http:')
        throw new PluginLoadError(`cluster ${name}: only http:// URLs are supported`);
      return url;
    });
    const keys = new Set(urls.map((u) => u.host));
    if (keys.size !== urls.length) throw new PluginLoadError(`cluster ${name}: an endpoint twice`);
    if (urls.some((u) => u.pathname !== urls[0].pathname)) {
      throw new PluginLoadError(`cluster ${name}: every endpoint needs the same base path`);
    }
    return new UpstreamCluster(name, urls);
  }

  /** The first endpoint: the base a call's path is checked against (every endpoint has its path). */
  get base(): URL {
    return this.endpoints[0].url;
  }

  get size(): number {
    return this.endpoints.length;
  }

  /** `url` (on any endpoint of this cluster) moved to the endpoint the ring picks for `authority`. */
  async route(url: URL, authority: string): Promise<URL> {
    if (this.endpoints.length === 1) return url;
    this.hash ??= await xxHash64();
    const endpoint = this.pick(authority);
    const routed = new URL(url.href);
    routed.host = endpoint.url.host;
    return routed;
  }

  /** The endpoint for `authority` among those not ejected now. */
  private pick(authority: string): Endpoint {
    if (!this.hash) throw new Error('UpstreamCluster.pick before the hash is ready');
    const now = this.nowMs();
    let members = this.endpoints.map((e) => e.ejectedUntilMs <= now);
    if (!members.includes(true)) members = members.map(() => true);
    const id = members.map((m) => (m ? '1' : '0')).join(',');
    let ring = this.rings.get(id);
    const inRing = this.endpoints.filter((_, i) => members[i]);
    if (!ring) {
      // Each endpoint keeps the points it has on the full ring, so an ejection moves only its keys
      // (Envoy rebuilds the ring for the healthy hosts, which also moves a few keys between the others).
      const counts = envoyPointCounts(this.endpoints.length).filter((_, i) => members[i]);
      ring = new RingHash(
        inRing.map((e) => e.key),
        this.hash,
        counts,
      );
      if (this.rings.size >= MAX_RINGS) this.rings.clear();
      this.rings.set(id, ring);
    }
    return inRing[ring.pick(this.hash(authority))];
  }

  /** A call to `url` ended without a response: its endpoint leaves the ring for a while. */
  failed(url: URL): void {
    const endpoint = this.endpointOf(url);
    if (!endpoint || this.endpoints.length === 1) return;
    const now = this.nowMs();
    if (endpoint.ejectedUntilMs > now) return; // calls already under way when it was ejected
    endpoint.ejections++;
    endpoint.ejectedUntilMs =
      now + Math.min(BASE_EJECTION_MS * endpoint.ejections, MAX_EJECTION_MS);
  }

  /** A call to `url` got a response: the endpoint's ejections start over. */
  answered(url: URL): void {
    const endpoint = this.endpointOf(url);
    if (endpoint && endpoint.ejectedUntilMs <= this.nowMs()) endpoint.ejections = 0;
  }

  /** Endpoints ejected right now, by URL (for logs and tests). */
  ejected(): string[] {
    const now = this.nowMs();
    return this.endpoints.filter((e) => e.ejectedUntilMs > now).map((e) => e.url.href);
  }

  private endpointOf(url: URL): Endpoint | undefined {
    return this.endpoints.find((e) => e.url.host === url.host);
  }
}
