import {
  structFromBinary,
  structToBinary,
  workloadFromNodeMetadata,
  workloadToNodeMetadata,
} from './peer-metadata';
import type { TreeMap } from './property-tree';
import type { PeerNode } from './stream-properties';

/** Istio's HTTP metadata exchange headers (istio/proxy peer_metadata filter, MX method). */
export const PEER_METADATA = 'x-envoy-peer-metadata';
export const PEER_METADATA_ID = 'x-envoy-peer-metadata-id';

/** Largest x-envoy-peer-metadata value decoded (Envoy's default header size limit is 60 KiB). */
const MAX_ENCODED_CHARS = 60 * 1024;

type Pairs = Array<[string, string]>;

/** The value this node sends: base64 of the serialized google.protobuf.Struct of its node metadata
 * subset, as istio/proxy builds it (convertStructToWorkloadMetadata, then back to a Struct). */
export function encodePeerMetadata(nodeMetadata: TreeMap): string {
  const subset = workloadToNodeMetadata(workloadFromNodeMetadata(nodeMetadata));
  return Buffer.from(structToBinary(subset)).toString('base64');
}

/** The peer's node metadata from a header value; undefined when it is not base64 of a Struct.
 * Padding is optional, as with Envoy's Base64::decodeWithoutPadding. */
export function decodePeerMetadata(value: string): TreeMap | undefined {
  if (value.length === 0 || value.length > MAX_ENCODED_CHARS) return undefined;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(value)) return undefined;
  return structFromBinary(Buffer.from(value, 'base64'));
}

/** Istio's node id: `sidecar~<ip>~<pod>.<namespace>~<namespace>.svc.cluster.local`. */
export function sidecarNodeId(nodeMetadata: TreeMap, ip = '127.0.0.1'): string {
  const name = typeof nodeMetadata.NAME === 'string' ? nodeMetadata.NAME : 'unknown';
  const ns = typeof nodeMetadata.NAMESPACE === 'string' ? nodeMetadata.NAMESPACE : 'default';
  return `sidecar~${ip}~${name}.${ns}~${ns}.svc.cluster.local`;
}

/** What a header map carried of the exchange, and the map without those headers. */
export interface TakenPeer {
  /** The decoded peer, when x-envoy-peer-metadata was there and valid. */
  peer: PeerNode | undefined;
  /** Whether the map carried the headers at all (inbound answers only then, as Istio does). */
  sawId: boolean;
  sawMetadata: boolean;
  rest: Pairs;
}

/** Reads and strips the exchange headers (names compared lower-case; the first value wins). */
export function takePeer(headers: ReadonlyArray<readonly [string, string]>): TakenPeer {
  let id: string | undefined;
  let metadata: string | undefined;
  const rest: Pairs = [];
  for (const [k, v] of headers) {
    const name = k.toLowerCase();
    if (name === PEER_METADATA_ID) id ??= v;
    else if (name === PEER_METADATA) metadata ??= v;
    else rest.push([k, v]);
  }
  const decoded = metadata === undefined ? undefined : decodePeerMetadata(metadata);
  return {
    peer: decoded === undefined ? undefined : { metadata: decoded, id },
    sawId: id !== undefined,
    sawMetadata: metadata !== undefined,
    rest,
  };
}

/** This node's exchange headers. */
export function peerHeaders(nodeMetadata: TreeMap): Pairs {
  return [
    [PEER_METADATA_ID, sidecarNodeId(nodeMetadata)],
    [PEER_METADATA, encodePeerMetadata(nodeMetadata)],
  ];
}
