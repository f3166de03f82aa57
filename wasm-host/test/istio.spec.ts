import { fromJson, toBinary } from '@bufbuild/protobuf';
import { StructSchema } from '@bufbuild/protobuf/wkt';
import { grpcStatusOf, httpToGrpcStatus, isGrpcContentType } from '../src/istio/grpc-status';
import { HeaderMap } from '../src/header-map';
import {
  decodePeerMetadata,
  encodePeerMetadata,
  PEER_METADATA,
  PEER_METADATA_ID,
  peerHeaders,
  sidecarNodeId,
  takePeer,
} from '../src/istio/metadata-exchange';
import { structFromBinary, workloadFromNodeMetadata } from '../src/istio/peer-metadata';
import { encodeTreeValue, walkTree } from '../src/istio/property-tree';
import { responseFlagBits, responseFlagsString } from '../src/istio/response-flags';
import { SidecarIstio } from '../src/istio/sidecar-istio';
import { namespaceOfPrincipal, spiffeId, spiffeIdOfNode } from '../src/istio/spiffe';

const PRODUCTPAGE = {
  NAME: 'productpage-v1-6b746f74dc-9stvs',
  NAMESPACE: 'bookinfo',
  WORKLOAD_NAME: 'productpage-v1',
  CLUSTER_ID: 'Kubernetes',
  MESH_ID: 'cluster.local',
  SERVICE_ACCOUNT: 'bookinfo-productpage',
  OWNER: 'kubernetes://apis/apps/v1/namespaces/bookinfo/deployments/productpage-v1',
  LABELS: {
    app: 'productpage',
    version: 'v1',
    'service.istio.io/canonical-name': 'productpage',
    'service.istio.io/canonical-revision': 'v1',
    'pod-template-hash': '6b746f74dc',
  },
};

describe('metadata exchange codec', () => {
  it('sends the node metadata subset istio/proxy sends, as base64 of a serialized Struct', () => {
    const value = encodePeerMetadata(PRODUCTPAGE);
    // Decoded by the protobuf library itself, not by our decoder.
    const struct = structFromBinary(Buffer.from(value, 'base64'));
    expect(struct).toEqual({
      NAME: 'productpage-v1-6b746f74dc-9stvs',
      NAMESPACE: 'bookinfo',
      WORKLOAD_NAME: 'productpage-v1',
      CLUSTER_ID: 'Kubernetes',
      OWNER: 'kubernetes://apis/apps/v1/namespaces/bookinfo/deployments/productpage-v1',
      LABELS: {
        app: 'productpage',
        version: 'v1',
        'service.istio.io/canonical-name': 'productpage',
        'service.istio.io/canonical-revision': 'v1',
      },
    });
  });

  it('is deterministic (sorted keys), so the same node always sends the same bytes', () => {
    const reordered = Object.fromEntries(Object.entries(PRODUCTPAGE).reverse());
    expect(encodePeerMetadata(reordered)).toBe(encodePeerMetadata(PRODUCTPAGE));
  });

  it('decodes what another protobuf encoder wrote, with or without padding', () => {
    const bytes = toBinary(
      StructSchema,
      fromJson(StructSchema, { NAMESPACE: 'shop', WORKLOAD_NAME: 'web', LABELS: { app: 'web' } }),
    );
    const b64 = Buffer.from(bytes).toString('base64');
    expect(decodePeerMetadata(b64)).toEqual({
      NAMESPACE: 'shop',
      WORKLOAD_NAME: 'web',
      LABELS: { app: 'web' },
    });
    expect(decodePeerMetadata(b64.replace(/=+$/, ''))).toEqual(decodePeerMetadata(b64));
  });

  it.each([
    ['empty', ''],
    ['not base64', 'not base64!'],
    ['not a Struct', Buffer.from([0xff, 0xff, 0xff]).toString('base64')],
    ['too long', 'A'.repeat(70_000)],
  ])('refuses %s', (_, value) => {
    expect(decodePeerMetadata(value)).toBeUndefined();
  });

  it('a key named __proto__ stays data', () => {
    const bytes = toBinary(
      StructSchema,
      fromJson(StructSchema, JSON.parse('{"__proto__":{"x":"y"},"NAMESPACE":"n"}') as never),
    );
    const tree = decodePeerMetadata(Buffer.from(bytes).toString('base64'));
    expect(tree?.NAMESPACE).toBe('n');
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });

  it('takes and strips the two headers, any case; keeps the others in order', () => {
    const taken = takePeer([
      ['a', '1'],
      ['X-Envoy-Peer-Metadata', encodePeerMetadata(PRODUCTPAGE)],
      ['b', '2'],
      ['x-envoy-peer-metadata-id', 'sidecar~1~p.ns~ns.svc.cluster.local'],
    ]);
    expect(taken.rest).toEqual([
      ['a', '1'],
      ['b', '2'],
    ]);
    expect(taken.peer?.id).toBe('sidecar~1~p.ns~ns.svc.cluster.local');
    expect(taken.peer?.metadata.WORKLOAD_NAME).toBe('productpage-v1');
    expect(takePeer([['x', 'y']])).toMatchObject({
      peer: undefined,
      sawId: false,
      sawMetadata: false,
    });
  });

  it('node id in Istio shape', () => {
    expect(sidecarNodeId(PRODUCTPAGE)).toBe(
      'sidecar~127.0.0.1~productpage-v1-6b746f74dc-9stvs.bookinfo~bookinfo.svc.cluster.local',
    );
    expect(peerHeaders(PRODUCTPAGE).map(([k]) => k)).toEqual([PEER_METADATA_ID, PEER_METADATA]);
  });
});

describe('peer object (filter_state downstream_peer / upstream_peer)', () => {
  it("has istio/proxy's field names; app.kubernetes.io labels win; OWNER gives the type", () => {
    expect(
      workloadFromNodeMetadata({
        ...PRODUCTPAGE,
        LABELS: { ...PRODUCTPAGE.LABELS, 'app.kubernetes.io/name': 'pp' },
      }),
    ).toEqual({
      name: 'productpage-v1-6b746f74dc-9stvs',
      namespace: 'bookinfo',
      workload: 'productpage-v1',
      cluster: 'Kubernetes',
      service: 'productpage',
      revision: 'v1',
      app: 'pp',
      version: 'v1',
      identity: '',
      type: 'deployment',
    });
  });
});

describe('SPIFFE ids', () => {
  it('from node metadata, and back to a namespace', () => {
    expect(spiffeIdOfNode(PRODUCTPAGE)).toBe(
      'spiffe://cluster.local/ns/bookinfo/sa/bookinfo-productpage',
    );
    expect(spiffeIdOfNode({ NAMESPACE: 'x', TRUST_DOMAIN: 'corp', SERVICE_ACCOUNT: '' })).toBe(
      spiffeId('corp', 'x', 'default'),
    );
    expect(spiffeIdOfNode({})).toBeUndefined();
    expect(namespaceOfPrincipal('spiffe://td/ns/shop/sa/web')).toBe('shop');
    expect(namespaceOfPrincipal('spiffe://td/ns/shop')).toBe('shop');
    expect(namespaceOfPrincipal('spiffe://td/sa/web')).toBeUndefined();
  });
});

describe('response flags and gRPC status', () => {
  it("Envoy's short strings in bit order", () => {
    expect(responseFlagsString(0)).toBe('-');
    expect(responseFlagsString(responseFlagBits(['UF']))).toBe('UF');
    expect(responseFlagBits(['UF'])).toBe(1 << 5);
    expect(responseFlagsString(responseFlagBits(['DC', 'UH', 'NR']))).toBe('UH,NR,DC');
    expect(() => responseFlagBits(['XX'])).toThrow(RangeError);
  });

  it('grpc-status from trailers, then headers, then the HTTP mapping', () => {
    const h = (pairs: Array<[string, string]>) => new HeaderMap(pairs);
    expect(
      grpcStatusOf(
        h([
          [':status', '200'],
          ['grpc-status', '3'],
        ]),
        h([['grpc-status', '7']]),
      ),
    ).toBe(7);
    expect(
      grpcStatusOf(
        h([
          [':status', '200'],
          ['grpc-status', '3'],
        ]),
        undefined,
      ),
    ).toBe(3);
    expect(grpcStatusOf(h([[':status', '503']]), undefined)).toBe(14);
    expect(grpcStatusOf(undefined, undefined)).toBeUndefined();
    expect([400, 401, 403, 404, 429, 502, 503, 504, 500].map(httpToGrpcStatus)).toEqual([
      13, 16, 7, 12, 14, 14, 14, 14, 2,
    ]);
    expect(
      ['application/grpc', 'application/grpc+proto', 'application/grpc;x=1'].every(
        isGrpcContentType,
      ),
    ).toBe(true);
    expect(['application/grpc-web', 'text/plain', undefined].some(isGrpcContentType)).toBe(false);
  });
});

describe('property tree', () => {
  const tree = {
    LABELS: { 'service.istio.io/canonical-name': 'pp' },
    n: 5,
    list: [{ host: 'h' }],
    ok: true,
  };
  it("walks maps and lists; Envoy's encodings", () => {
    expect(
      encodeTreeValue(walkTree(tree, ['LABELS', 'service.istio.io/canonical-name']))?.toString(),
    ).toBe('pp');
    expect(encodeTreeValue(walkTree(tree, ['n']))?.readBigInt64LE()).toBe(5n);
    expect(encodeTreeValue(walkTree(tree, ['list', '0', 'host']))?.toString()).toBe('h');
    expect(encodeTreeValue(walkTree(tree, ['ok']))).toEqual(Buffer.from([1]));
    expect(encodeTreeValue(walkTree(tree, ['list']))).toBeUndefined();
  });
  it('finds nothing through prototype names', () => {
    expect(walkTree(tree, ['__proto__'])).toBeUndefined();
    expect(walkTree(tree, ['constructor'])).toBeUndefined();
    expect(walkTree(tree, ['list', 'length'])).toBeUndefined();
  });
});

describe('sidecar hooks (what Istio does around the plugin)', () => {
  const REVIEWS = {
    ...PRODUCTPAGE,
    NAME: 'reviews-v1-1',
    WORKLOAD_NAME: 'reviews-v1',
    SERVICE_ACCOUNT: 'bookinfo-reviews',
    LABELS: { app: 'reviews', version: 'v1' },
  };

  it('outbound adds ours to the request, learns the peer from the response and strips it', () => {
    const out = new SidecarIstio(
      {
        listenerDirection: 'outbound',
        metadataExchange: true,
        mtls: true,
        nodeMetadataStruct: PRODUCTPAGE,
      },
      {},
    );
    const s = out.stream();
    const sent = s.request([
      ['accept', '*/*'],
      [PEER_METADATA, 'forged'],
    ]);
    expect(sent.filter(([k]) => k === PEER_METADATA)).toHaveLength(1);
    expect(decodePeerMetadata(sent.find(([k]) => k === PEER_METADATA)![1])?.IDENTITY).toBe(
      'spiffe://cluster.local/ns/bookinfo/sa/bookinfo-productpage',
    );
    const answer = s.upstreamResponse({
      status: 200,
      headers: [
        ...peerHeaders({
          ...REVIEWS,
          IDENTITY: 'spiffe://cluster.local/ns/bookinfo/sa/bookinfo-reviews',
        }),
        ['x', 'y'],
      ],
    });
    expect(answer.headers).toEqual([['x', 'y']]);
    expect(s.properties.upstreamPeer?.metadata.WORKLOAD_NAME).toBe('reviews-v1');
    expect(s.properties.upstreamUriSanPeerCertificate).toBe(
      'spiffe://cluster.local/ns/bookinfo/sa/bookinfo-reviews',
    );
    expect(s.properties.upstreamUriSanLocalCertificate).toBe(
      'spiffe://cluster.local/ns/bookinfo/sa/bookinfo-productpage',
    );
  });

  it('inbound learns the peer from the request, strips it, and answers with ours only if asked', () => {
    const inb = new SidecarIstio(
      {
        listenerDirection: 'inbound',
        metadataExchange: true,
        mtls: false,
        nodeMetadataStruct: REVIEWS,
      },
      {},
    );
    const s = inb.stream();
    expect(s.request([...peerHeaders(PRODUCTPAGE), ['a', 'b']])).toEqual([['a', 'b']]);
    expect(s.properties.downstreamPeer?.metadata.WORKLOAD_NAME).toBe('productpage-v1');
    expect(s.properties.mtls).toBeUndefined();
    expect(s.responseHeaders([['c', 'd']]).map(([k]) => k)).toEqual([
      'c',
      PEER_METADATA_ID,
      PEER_METADATA,
    ]);
    const plain = inb.stream();
    plain.request([['a', 'b']]);
    expect(plain.responseHeaders([['c', 'd']])).toEqual([['c', 'd']]);
  });

  it('a failed upstream connection sets the UF response flag, as Envoy does', () => {
    const s = new SidecarIstio(
      { listenerDirection: 'outbound', metadataExchange: true, mtls: false },
      {},
    ).stream();
    expect(s.properties.responseFlags ?? 0).toBe(0);
    s.upstreamFailed();
    expect(responseFlagsString(s.properties.responseFlags ?? 0)).toBe('UF');
  });

  it('without --metadata-exchange nothing changes', () => {
    const s = new SidecarIstio(
      { listenerDirection: 'inbound', metadataExchange: false, mtls: false },
      {},
    ).stream();
    const headers: Array<[string, string]> = [[PEER_METADATA, encodePeerMetadata(PRODUCTPAGE)]];
    expect(s.request(headers)).toBe(headers);
    expect(s.properties.downstreamPeer).toBeUndefined();
  });
});
