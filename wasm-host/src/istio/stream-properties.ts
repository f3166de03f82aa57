import type { TreeMap } from './property-tree';

export type ListenerDirection = 'inbound' | 'outbound';

/** A peer learned by Istio's metadata exchange: its node metadata (the exchanged subset) and id. */
export interface PeerNode {
  metadata: TreeMap;
  id?: string;
}

/**
 * What Istio and Envoy know about one stream beyond its headers. Given per stream
 * (StreamOptions.properties); the object is read when the plugin asks, so whoever drives the stream
 * may fill it in as it learns (the sidecar sets `upstreamPeer` once the upstream answered).
 */
export interface StreamProperties {
  /** `listener_direction`; overrides HostOptions.listenerDirection. */
  listenerDirection?: ListenerDirection;
  /** filter_state `downstream_peer` (inbound) and `upstream_peer` (outbound). */
  downstreamPeer?: PeerNode;
  upstreamPeer?: PeerNode;
  /** The downstream connection is Istio mutual TLS (`connection.mtls`). */
  mtls?: boolean;
  /** `connection.uri_san_local_certificate` / `connection.uri_san_peer_certificate`. */
  uriSanLocalCertificate?: string;
  uriSanPeerCertificate?: string;
  /** `upstream.uri_san_local_certificate` / `upstream.uri_san_peer_certificate` (outbound mTLS). */
  upstreamUriSanLocalCertificate?: string;
  upstreamUriSanPeerCertificate?: string;
  /** The stream ended before any response (e.g. the downstream went away): `response.code`,
   * `response.total_size` and `response.grpc_status` are NOT_FOUND, as in Envoy. */
  noResponse?: boolean;
  /** `response.flags`: Envoy's bitmask (see istio/response-flags.ts); default 0. */
  responseFlags?: number;
  /** Override the host's `xds.cluster_name`, `xds.cluster_metadata`, `xds.upstream_host_metadata`. */
  clusterName?: string;
  clusterMetadata?: TreeMap;
  upstreamHostMetadata?: TreeMap;
}

/** Host-wide defaults of the same (HostOptions), with the node metadata as a structured value. */
export interface IstioHostConfig {
  listenerDirection?: ListenerDirection;
  /** node.metadata as a Struct: HostOptions.nodeMetadataStruct overlaid with HostOptions.nodeMetadata. */
  nodeTree: TreeMap;
  clusterName?: string;
  clusterMetadata?: TreeMap;
  upstreamHostMetadata?: TreeMap;
}
