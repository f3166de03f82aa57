import type { HeaderMap } from '../header-map';
import { grpcStatusOf } from './grpc-status';
import { structToBinary, workloadFromNodeMetadata, workloadToFilterState } from './peer-metadata';
import { encodeTreeValue, walkTree, type TreeMap } from './property-tree';
import type { IstioHostConfig, PeerNode, StreamProperties } from './stream-properties';

/** What this module needs to know about a stream context (so it does not depend on contexts.ts). */
export interface StreamView {
  streamProperties: StreamProperties | undefined;
  responseHeaders: HeaderMap | undefined;
  responseTrailers: HeaderMap | undefined;
}

/** response.* properties a stream without a response does not have. */
const NO_RESPONSE = new Set([
  'code',
  'code_details',
  'headers',
  'trailers',
  'size',
  'total_size',
  'grpc_status',
]);

/** Returned for paths this module does not answer: the general resolver goes on. */
export const NOT_MINE = Symbol('not an Istio property');
type Answer = Buffer | undefined | typeof NOT_MINE;

const int64 = (v: number): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigInt64LE(BigInt(v));
  return b;
};
const text = (v: string | undefined): Buffer | undefined =>
  v === undefined ? undefined : Buffer.from(v, 'utf8');

/** node.metadata.<...> below the top level, from the structured node metadata. */
export function nodeMetadataProperty(istio: IstioHostConfig, rest: readonly string[]): Answer {
  if (rest[0] !== 'metadata' || rest.length < 2) return NOT_MINE;
  return encodeTreeValue(walkTree(istio.nodeTree, rest.slice(1)));
}

/** Pre-1.24 `wasm.*_peer` objects were flatbuffers (FlatNode) with lower-case field names. */
function flatNodeField(peer: PeerNode, path: readonly string[]): Buffer | undefined {
  if (path.length === 0) return undefined; // the flatbuffer itself is not emulated
  const [field, ...below] = path;
  return encodeTreeValue(walkTree(peer.metadata, [field.toUpperCase(), ...below]));
}

/** filter_state.<key>[.<field>...]: the peer objects of Istio's metadata exchange. */
function filterStateProperty(props: StreamProperties, path: readonly string[]): Buffer | undefined {
  const [key, ...fields] = path;
  const peer =
    key === 'downstream_peer' || key === 'downstream_peer_obj' || key.startsWith('wasm.downstream')
      ? props.downstreamPeer
      : key === 'upstream_peer' || key === 'upstream_peer_obj' || key.startsWith('wasm.upstream')
        ? props.upstreamPeer
        : undefined;
  if (peer === undefined) return undefined;
  switch (key) {
    case 'downstream_peer':
    case 'upstream_peer':
    case 'downstream_peer_obj':
    case 'upstream_peer_obj': {
      const object: TreeMap = workloadToFilterState(workloadFromNodeMetadata(peer.metadata));
      // Istio 1.24+: a CelState holding the serialized Struct; fields readable below it. The
      // *_obj twin (WorkloadMetadataObject) is read by field only.
      if (fields.length === 0)
        return key.endsWith('_obj') ? undefined : Buffer.from(structToBinary(object));
      return encodeTreeValue(walkTree(object, fields));
    }
    case 'wasm.downstream_peer_id':
    case 'wasm.upstream_peer_id':
      return fields.length === 0 ? text(peer.id) : undefined;
    case 'wasm.downstream_peer':
    case 'wasm.upstream_peer':
      return flatNodeField(peer, fields);
    default:
      return undefined;
  }
}

/**
 * The stream properties Istio's stats filter and plugins read: listener_direction, xds.*,
 * filter_state peers, connection/upstream mTLS SANs, response.flags and response.grpc_status.
 * NOT_MINE for everything else.
 */
export function istioStreamProperty(
  istio: IstioHostConfig,
  stream: StreamView,
  segments: readonly string[],
): Answer {
  const props = stream.streamProperties ?? {};
  const [head, ...rest] = segments;
  switch (head) {
    case 'listener_direction': {
      const dir = props.listenerDirection ?? istio.listenerDirection;
      if (rest.length > 0 || dir === undefined) return undefined;
      return int64(dir === 'inbound' ? 1 : 2);
    }
    case 'xds': {
      const [name, ...below] = rest;
      if (name === 'cluster_name')
        return below.length === 0 ? text(props.clusterName ?? istio.clusterName) : undefined;
      if (name === 'cluster_metadata')
        return metadataProperty(props.clusterMetadata ?? istio.clusterMetadata, below);
      if (name === 'upstream_host_metadata')
        return metadataProperty(props.upstreamHostMetadata ?? istio.upstreamHostMetadata, below);
      return NOT_MINE;
    }
    case 'filter_state':
      return rest.length === 0 ? undefined : filterStateProperty(props, rest);
    case 'connection': {
      if (rest.length !== 1) return NOT_MINE;
      if (rest[0] === 'mtls') return Buffer.from([props.mtls === true ? 1 : 0]);
      if (rest[0] === 'uri_san_local_certificate') return text(props.uriSanLocalCertificate);
      if (rest[0] === 'uri_san_peer_certificate') return text(props.uriSanPeerCertificate);
      return NOT_MINE;
    }
    case 'upstream': {
      if (rest.length !== 1) return NOT_MINE;
      if (rest[0] === 'uri_san_local_certificate')
        return text(props.upstreamUriSanLocalCertificate);
      if (rest[0] === 'uri_san_peer_certificate') return text(props.upstreamUriSanPeerCertificate);
      return NOT_MINE;
    }
    case 'response': {
      if (rest.length !== 1) return NOT_MINE;
      if (props.noResponse === true && NO_RESPONSE.has(rest[0])) return undefined;
      if (rest[0] === 'flags' && props.responseFlags !== undefined)
        return int64(props.responseFlags);
      if (rest[0] === 'grpc_status') {
        const status = grpcStatusOf(stream.responseHeaders, stream.responseTrailers);
        return status === undefined ? undefined : int64(status);
      }
      return NOT_MINE;
    }
    default:
      return NOT_MINE;
  }
}

/** Envoy Metadata (`{filter_metadata: {istio: {...}}}`) walked by path; the whole as pairs is not served. */
function metadataProperty(
  metadata: TreeMap | undefined,
  path: readonly string[],
): Buffer | undefined {
  if (metadata === undefined) return undefined;
  if (path.length === 0) return undefined;
  return encodeTreeValue(walkTree(metadata, path));
}
