import { StreamContextState, type AnyContext } from './contexts';
import { encodePairs } from './header-map';
import type { ResolvedConfig } from './host-env';
import { istioStreamProperty, nodeMetadataProperty, NOT_MINE } from './istio/istio-properties';
import { encodeTreeValue } from './istio/property-tree';

/** Envoy's property encodings: strings raw, ints/timestamps/durations as 8-byte little-endian. */
const int64 = (v: bigint | number): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigInt64LE(BigInt(v));
  return b;
};
const str = (v: string | undefined): Buffer | undefined =>
  v === undefined ? undefined : Buffer.from(v, 'utf8');
const bool = (v: boolean): Buffer => Buffer.from([v ? 1 : 0]);

function splitAddress(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  return { host: address.slice(0, i), port: Number(address.slice(i + 1)) };
}

function requestProperty(ctx: StreamContextState, name: string, now: bigint): Buffer | undefined {
  const h = ctx.requestHeaders;
  const path = h.get(':path') ?? '';
  const q = path.indexOf('?');
  switch (name) {
    case 'path':
      return str(path);
    case 'url_path':
      return str(q < 0 ? path : path.slice(0, q));
    case 'query':
      return str(q < 0 ? '' : path.slice(q + 1));
    case 'host':
      return str(h.get(':authority'));
    case 'scheme':
      return str(h.get(':scheme') ?? 'http');
    case 'method':
      return str(h.get(':method'));
    case 'headers':
      return encodePairs(h.pairs);
    case 'referer':
      return str(h.get('referer'));
    case 'useragent':
      return str(h.get('user-agent'));
    case 'id':
      return str(h.get('x-request-id'));
    case 'protocol':
      return str('HTTP/1.1');
    case 'time':
      return int64(ctx.startedAtNs);
    case 'duration':
      return int64(now - ctx.startedAtNs);
    case 'size':
      return ctx.requestBody === undefined ? undefined : int64(ctx.requestBodyBytes);
    case 'total_size':
      return int64(Buffer.byteLength(encodePairs(h.pairs)) + ctx.requestBodyBytes);
    default:
      return undefined;
  }
}

function responseProperty(ctx: StreamContextState, name: string): Buffer | undefined {
  const h = ctx.responseHeaders;
  switch (name) {
    case 'code': {
      const status = h?.get(':status');
      return status === undefined ? undefined : int64(Number(status));
    }
    case 'code_details':
      return str(ctx.responseCodeDetails || (h ? 'via_upstream' : undefined));
    case 'flags':
      return h ? int64(0) : undefined;
    case 'headers':
      return h ? encodePairs(h.pairs) : undefined;
    case 'trailers':
      return ctx.responseTrailers ? encodePairs(ctx.responseTrailers.pairs) : undefined;
    case 'size':
      return ctx.responseBody === undefined
        ? h
          ? int64(0)
          : undefined
        : int64(ctx.responseBodyBytes);
    case 'total_size':
      return h ? int64(Buffer.byteLength(encodePairs(h.pairs)) + ctx.responseBodyBytes) : undefined;
    default:
      return undefined;
  }
}

function addressProperty(address: string, name: string): Buffer | undefined {
  if (name === 'address') return str(address);
  if (name === 'port') return int64(splitAddress(address).port);
  return undefined;
}

/**
 * Resolves a property path (segments already split on \0) for `ctx`; undefined means NOT_FOUND.
 * Values the plugin set itself (proxy_set_property) win.
 */
export function resolveProperty(
  config: ResolvedConfig,
  ctx: AnyContext | undefined,
  root: AnyContext | undefined,
  segments: string[],
): Buffer | undefined {
  const key = segments.join('\0');
  const own = ctx?.properties.get(key) ?? root?.properties.get(key);
  if (own) return own;
  const [head, ...rest] = segments;
  const sub = rest.join('.');
  switch (head) {
    case 'plugin_name':
      return rest.length === 0 ? str(config.pluginName) : undefined;
    case 'plugin_root_id':
      return rest.length === 0 ? str(config.rootId) : undefined;
    case 'plugin_vm_id':
      return rest.length === 0 ? str(config.vmId) : undefined;
    case 'node': {
      // node.metadata below the top: the structured value (LABELS a map, ...), flat values included.
      const structured = nodeMetadataProperty(config.istio, rest);
      if (structured !== NOT_MINE) return structured;
      // The whole map: its string values as pairs (structured ones such as LABELS are left out).
      if (rest[0] === 'metadata' && rest.length === 1)
        return encodeTreeValue(config.istio.nodeTree);
      if (sub === 'id') return str(config.nodeMetadata.get('NAME'));
      return undefined;
    }
  }
  if (!(ctx instanceof StreamContextState)) return undefined;
  const istio = istioStreamProperty(config.istio, ctx, segments);
  if (istio !== NOT_MINE) return istio;
  switch (head) {
    case 'request':
      return rest.length === 1 ? requestProperty(ctx, rest[0], config.now()) : undefined;
    case 'response':
      return rest.length === 1 ? responseProperty(ctx, rest[0]) : undefined;
    case 'source':
      return rest.length === 1 ? addressProperty(ctx.sourceAddress, rest[0]) : undefined;
    case 'destination':
      return rest.length === 1 ? addressProperty(ctx.destinationAddress, rest[0]) : undefined;
    case 'connection':
      return sub === 'mtls' ? bool(false) : undefined;
    default:
      return undefined;
  }
}
