import type { HostOptions, UpstreamResponse } from '../types';
import { responseFlagBits } from './response-flags';
import { peerHeaders, takePeer } from './metadata-exchange';
import { cleanTree, isTreeMap, type TreeMap } from './property-tree';
import { spiffeIdOfNode } from './spiffe';
import type { ListenerDirection, StreamProperties } from './stream-properties';

type Pairs = Array<[string, string]>;

const UPSTREAM_FAILURE = responseFlagBits(['UF']);

/** The sidecar's Istio flags, parsed. */
export interface IstioSidecarOptions {
  listenerDirection?: ListenerDirection;
  /** --node-metadata-json (the --node-metadata K=V pairs are laid over it by the host). */
  nodeMetadataStruct?: TreeMap;
  metadataExchange: boolean;
  mtls: boolean;
  clusterName?: string;
  clusterMetadata?: TreeMap;
  /** --peer-metadata-json (TCP mode): the peer's node metadata, as Istio's TCP metadata exchange
   * would have learned it before the plugin sees the connection's first bytes. */
  peerMetadata?: TreeMap;
}

/** parseArgs option specs for the Istio flags (merged into the sidecar's own). */
export const ISTIO_FLAG_SPECS = {
  'listener-direction': { type: 'string' },
  'node-metadata-json': { type: 'string' },
  'metadata-exchange': { type: 'boolean' },
  mtls: { type: 'boolean' },
  'cluster-name': { type: 'string' },
  'cluster-metadata-json': { type: 'string' },
  'peer-metadata-json': { type: 'string' },
} as const;

export const ISTIO_USAGE = `  --listener-direction D    inbound|outbound: listener_direction (1|2), Istio's reporter side
  --node-metadata-json JSON node.metadata as a Struct (LABELS a map, CLUSTER_ID, ...); --node-metadata over it
  --metadata-exchange       Istio's HTTP metadata exchange (x-envoy-peer-metadata[-id]): learn the peer, strip, add ours
  --mtls                    the peer connection is Istio mutual TLS: connection.mtls and SPIFFE URI SANs
  --cluster-name NAME       xds.cluster_name of the upstream
  --cluster-metadata-json J xds.cluster_metadata (Envoy Metadata, e.g. {"filter_metadata":{"istio":{...}}})
  --peer-metadata-json JSON with --tcp: the peer's node metadata (downstream_peer inbound, upstream_peer outbound)`;

/** Throws Error(message) naming the flag; the caller turns it into its usage error. */
function jsonMap(flag: string, text: string | undefined): TreeMap | undefined {
  if (text === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new Error(`--${flag}: not JSON (${(err as Error).message})`);
  }
  const tree = cleanTree(parsed);
  if (!isTreeMap(tree)) throw new Error(`--${flag}: expected a JSON object`);
  return tree;
}

export function parseIstioFlags(values: {
  'listener-direction'?: string;
  'node-metadata-json'?: string;
  'metadata-exchange'?: boolean;
  mtls?: boolean;
  'cluster-name'?: string;
  'cluster-metadata-json'?: string;
  'peer-metadata-json'?: string;
}): IstioSidecarOptions {
  const dir = values['listener-direction'];
  if (dir !== undefined && dir !== 'inbound' && dir !== 'outbound') {
    throw new Error(`--listener-direction: expected inbound or outbound, got "${dir}"`);
  }
  return {
    listenerDirection: dir,
    nodeMetadataStruct: jsonMap('node-metadata-json', values['node-metadata-json']),
    metadataExchange: values['metadata-exchange'] === true,
    mtls: values.mtls === true,
    clusterName: values['cluster-name'],
    clusterMetadata: jsonMap('cluster-metadata-json', values['cluster-metadata-json']),
    peerMetadata: jsonMap('peer-metadata-json', values['peer-metadata-json']),
  };
}

/** The HostOptions fields the Istio flags set. */
export function istioHostOptions(o: IstioSidecarOptions): Partial<HostOptions> {
  return {
    listenerDirection: o.listenerDirection,
    nodeMetadataStruct: o.nodeMetadataStruct,
    clusterName: o.clusterName,
    clusterMetadata: o.clusterMetadata,
  };
}

/**
 * What Istio does around the plugin for one sidecar: the metadata exchange on the way in and out,
 * and the mTLS view of the connection. One per sidecar; `stream()` per request.
 */
export class SidecarIstio {
  private readonly node: TreeMap;
  private readonly ownSpiffe: string | undefined;

  constructor(
    private readonly o: IstioSidecarOptions,
    flatNodeMetadata: Record<string, string>,
  ) {
    const node = Object.assign(Object.create(null) as TreeMap, o.nodeMetadataStruct ?? {});
    for (const [k, v] of Object.entries(flatNodeMetadata)) node[k] = v;
    this.ownSpiffe = o.mtls ? spiffeIdOfNode(node) : undefined;
    // With mTLS the peer learns our identity from our certificate; here it travels as IDENTITY in
    // the exchanged metadata (istio/proxy carries IDENTITY when the node has one).
    if (this.ownSpiffe !== undefined && typeof node.IDENTITY !== 'string')
      node.IDENTITY = this.ownSpiffe;
    this.node = node;
  }

  get inbound(): boolean {
    return this.o.listenerDirection === 'inbound';
  }

  /** A TCP connection's properties: the mTLS view, and the peer from --peer-metadata-json (there
   * is no HTTP exchange on a TCP connection; with --mtls its SAN is the peer's identity). */
  connection(): StreamProperties {
    const properties = this.stream().properties;
    const metadata = this.o.peerMetadata;
    if (metadata === undefined) return properties;
    const san = this.o.mtls ? (identityOf(metadata) ?? spiffeIdOfNode(metadata)) : undefined;
    if (this.inbound) {
      properties.downstreamPeer = { metadata };
      properties.uriSanPeerCertificate = san;
    } else {
      properties.upstreamPeer = { metadata };
      properties.upstreamUriSanPeerCertificate = san;
    }
    return properties;
  }

  /** A stream: its properties (filled in as the exchange learns the peer) and the header hooks. */
  stream(): IstioStream {
    return new IstioStream(this.o, this.node, this.ownSpiffe, this.inbound);
  }
}

const identityOf = (metadata: TreeMap): string | undefined =>
  typeof metadata.IDENTITY === 'string' && metadata.IDENTITY !== '' ? metadata.IDENTITY : undefined;

export class IstioStream {
  readonly properties: StreamProperties;
  private answerDownstream = false;

  constructor(
    private readonly o: IstioSidecarOptions,
    private readonly node: TreeMap,
    private readonly ownSpiffe: string | undefined,
    private readonly inbound: boolean,
  ) {
    this.properties = {};
    if (o.mtls && inbound) {
      this.properties.mtls = true;
      this.properties.uriSanLocalCertificate = ownSpiffe;
    }
    if (o.mtls && !inbound) this.properties.upstreamUriSanLocalCertificate = ownSpiffe;
  }

  /** Request headers from downstream, before the plugin: inbound learns and strips the peer;
   * outbound adds this node's headers for the upstream. */
  request(headers: Pairs): Pairs {
    if (!this.o.metadataExchange) return headers;
    if (this.inbound) {
      const taken = takePeer(headers);
      this.answerDownstream = taken.sawId || taken.sawMetadata;
      if (taken.peer) {
        this.properties.downstreamPeer = taken.peer;
        if (this.o.mtls) this.properties.uriSanPeerCertificate = identityOf(taken.peer.metadata);
      }
      return taken.rest;
    }
    return [...takePeer(headers).rest, ...peerHeaders(this.node)];
  }

  /** No connection to the upstream: Envoy's UF response flag. */
  upstreamFailed(): void {
    this.properties.responseFlags = (this.properties.responseFlags ?? 0) | UPSTREAM_FAILURE;
  }

  /** The upstream's response (outbound): learn and strip the peer. */
  upstreamResponse(res: UpstreamResponse): UpstreamResponse {
    if (!this.o.metadataExchange || this.inbound) return res;
    const taken = takePeer(res.headers ?? []);
    if (taken.peer) {
      this.properties.upstreamPeer = taken.peer;
      if (this.o.mtls)
        this.properties.upstreamUriSanPeerCertificate = identityOf(taken.peer.metadata);
    }
    return { ...res, headers: taken.rest };
  }

  /** Response headers to downstream (inbound): this node's, when the request carried the exchange. */
  responseHeaders(headers: Pairs): Pairs {
    if (!this.o.metadataExchange || !this.inbound || !this.answerDownstream) return headers;
    return [...takePeer(headers).rest, ...peerHeaders(this.node)];
  }
}
