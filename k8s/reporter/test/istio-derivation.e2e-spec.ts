import type {
  HostOptions,
  StreamProperties,
  StreamRequest,
  UpstreamResponse,
} from '../../../wasm-host/src';
import { responseFlagBits } from '../../../wasm-host/src/istio/response-flags';
import {
  entriesOf,
  PRODUCTPAGE,
  PRODUCTPAGE_SPIFFE,
  REVIEWS,
  REVIEWS_CLUSTER,
  REVIEWS_CLUSTER_METADATA,
  REVIEWS_SPIFFE,
  type Entry,
} from './istio-support';
import { reporterHosts } from './support';

// Each derivation of the istio mode, one stream at a time through the built reporter in the
// proxy-wasm host: the report's dimensions are what istio_stats would tag the stream with.
describe('reporter, istio mode: the dimensions of one stream', () => {
  const hosts = reporterHosts();
  afterEach(() => hosts.closeAll());

  let clockNs = 1_790_000_000_000n * 1_000_000n;

  async function observe(
    host: Partial<HostOptions>,
    properties: StreamProperties,
    request: StreamRequest = { method: 'GET', path: '/reviews/0', authority: 'reviews:9080' },
    upstream: UpstreamResponse = { status: 200, body: 'ok' },
    durationMs = 12,
  ): Promise<Entry> {
    const h = await hosts.start({
      pluginConfig: JSON.stringify({ mode: 'istio', cluster: 'nowhere' }),
      concurrency: 1,
      now: () => clockNs,
      ...host,
    });
    await h.runStream(
      request,
      async () => {
        clockNs += BigInt(durationMs) * 1_000_000n;
        return upstream;
      },
      { properties },
    );
    await h.tick();
    const entries = entriesOf(h.httpCalls);
    expect(entries).toHaveLength(1);
    return entries[0];
  }

  const outbound: Partial<HostOptions> = {
    listenerDirection: 'outbound',
    nodeMetadataStruct: PRODUCTPAGE,
    clusterName: REVIEWS_CLUSTER,
    clusterMetadata: REVIEWS_CLUSTER_METADATA,
  };
  const inbound: Partial<HostOptions> = {
    listenerDirection: 'inbound',
    nodeMetadataStruct: REVIEWS,
  };

  it('outbound: reporter=source, this workload as source, the exchanged peer as destination', async () => {
    const e = await observe(outbound, {
      upstreamPeer: { metadata: REVIEWS, id: 'sidecar~10.0.0.2~reviews' },
    });
    expect(e.dims).toEqual({
      reporter: 'source',
      source_workload: 'productpage-v1',
      source_workload_namespace: 'bookinfo',
      source_principal: 'unknown',
      source_app: 'productpage',
      source_version: 'v1',
      source_canonical_service: 'productpage',
      source_canonical_revision: 'v1',
      source_cluster: 'Kubernetes',
      destination_workload: 'reviews-v1',
      destination_workload_namespace: 'bookinfo',
      destination_principal: 'unknown',
      destination_app: 'reviews',
      destination_version: 'v1',
      destination_service: 'reviews.bookinfo.svc.cluster.local',
      destination_service_name: 'reviews',
      destination_service_namespace: 'bookinfo',
      destination_canonical_service: 'reviews',
      destination_canonical_revision: 'v1',
      destination_cluster: 'Kubernetes',
      request_protocol: 'http',
      response_code: '200',
      grpc_response_status: '',
      response_flags: '-',
      connection_security_policy: 'unknown',
    });
    expect(e.n).toBe(1);
  });

  it('inbound: reporter=destination, the peer as source, connection_security_policy none without mTLS', async () => {
    const e = await observe(inbound, { downstreamPeer: { metadata: PRODUCTPAGE } });
    expect(e.dims).toMatchObject({
      reporter: 'destination',
      source_workload: 'productpage-v1',
      source_workload_namespace: 'bookinfo',
      source_app: 'productpage',
      source_canonical_service: 'productpage',
      source_principal: 'unknown',
      destination_workload: 'reviews-v1',
      destination_workload_namespace: 'bookinfo',
      destination_principal: 'unknown',
      // No cluster metadata inbound: the Host header is the service; its namespace is ours.
      destination_service: 'reviews:9080',
      destination_service_name: 'reviews:9080',
      destination_service_namespace: 'bookinfo',
      destination_canonical_service: 'reviews',
      connection_security_policy: 'none',
    });
  });

  it('no listener_direction: reported as the client side (istio_stats default)', async () => {
    const e = await observe({ nodeMetadataStruct: PRODUCTPAGE }, {});
    expect(e.dims.reporter).toBe('source');
  });

  it('unknowns: no peer, no cluster metadata -> unknown (latest for the canonical revision), the Host as service', async () => {
    const e = await observe(
      { listenerDirection: 'outbound', nodeMetadataStruct: PRODUCTPAGE },
      {},
      {
        method: 'GET',
        path: '/',
        authority: 'details:9080',
      },
    );
    expect(e.dims).toMatchObject({
      destination_workload: 'unknown',
      destination_workload_namespace: 'unknown',
      destination_principal: 'unknown',
      destination_app: 'unknown',
      destination_version: 'unknown',
      destination_canonical_service: 'unknown',
      destination_canonical_revision: 'latest',
      destination_cluster: 'unknown',
      destination_service: 'details:9080',
      destination_service_name: 'details:9080',
      destination_service_namespace: 'unknown',
    });
  });

  it('a passthrough cluster names the service', async () => {
    const e = await observe(
      { listenerDirection: 'outbound', nodeMetadataStruct: PRODUCTPAGE },
      { clusterName: 'PassthroughCluster' },
    );
    expect(e.dims.destination_service_name).toBe('PassthroughCluster');
  });

  it('inbound mTLS: both SANs -> mutual_tls, principals from the SANs, the namespace from the peer SAN', async () => {
    const e = await observe(inbound, {
      downstreamPeer: { metadata: { ...PRODUCTPAGE, NAMESPACE: 'from-metadata' } },
      mtls: true,
      uriSanPeerCertificate: PRODUCTPAGE_SPIFFE,
      uriSanLocalCertificate: REVIEWS_SPIFFE,
    });
    expect(e.dims).toMatchObject({
      source_principal: PRODUCTPAGE_SPIFFE,
      destination_principal: REVIEWS_SPIFFE,
      source_workload_namespace: 'bookinfo',
      connection_security_policy: 'mutual_tls',
    });
  });

  it('outbound mTLS: principals from the upstream SANs; policy stays unknown on the client side', async () => {
    const e = await observe(outbound, {
      upstreamPeer: { metadata: REVIEWS },
      upstreamUriSanLocalCertificate: PRODUCTPAGE_SPIFFE,
      upstreamUriSanPeerCertificate: REVIEWS_SPIFFE,
    });
    expect(e.dims).toMatchObject({
      source_principal: PRODUCTPAGE_SPIFFE,
      destination_principal: REVIEWS_SPIFFE,
      connection_security_policy: 'unknown',
    });
  });

  it('response_code is exact, 0 when the stream had no response', async () => {
    const e404 = await observe(outbound, {}, undefined, { status: 404 });
    expect(e404.dims.response_code).toBe('404');
    await hosts.closeAll();
    const none = await observe(outbound, {
      noResponse: true,
      responseFlags: responseFlagBits(['DC']),
    });
    expect(none.dims.response_code).toBe('0');
    expect(none.dims.response_flags).toBe('DC');
    expect(none.responseBytesSum).toBe(0);
  });

  it("response_flags: Envoy's short codes in flag order, comma-joined", async () => {
    const e = await observe(
      outbound,
      { responseFlags: responseFlagBits(['URX', 'UF', 'UH']) },
      undefined,
      {
        status: 503,
      },
    );
    expect(e.dims.response_flags).toBe('UH,UF,URX');
    expect(e.dims.response_code).toBe('503');
  });

  it('gRPC: request_protocol grpc, grpc_response_status from the trailers, else mapped from the HTTP status', async () => {
    const grpcRequest: StreamRequest = {
      method: 'POST',
      path: '/reviews.Reviews/Get',
      authority: 'reviews:9080',
      headers: [['content-type', 'application/grpc+proto']],
      body: 'x',
    };
    const e = await observe(outbound, {}, grpcRequest, {
      status: 200,
      headers: [['content-type', 'application/grpc']],
      body: 'y',
      trailers: [['grpc-status', '5']],
    });
    expect(e.dims.request_protocol).toBe('grpc');
    expect(e.dims.grpc_response_status).toBe('5');
    await hosts.closeAll();
    const mapped = await observe(outbound, {}, grpcRequest, { status: 503 });
    expect(mapped.dims.grpc_response_status).toBe('14');
    await hosts.closeAll();
    const notGrpc = await observe(
      outbound,
      {},
      { method: 'POST', path: '/', headers: [['content-type', 'application/grpc-web']] },
    );
    expect(notGrpc.dims.request_protocol).toBe('http');
    expect(notGrpc.dims.grpc_response_status).toBe('');
  });

  it('duration in ms and wire sizes land in Envoy buckets', async () => {
    const e = await observe(outbound, {}, undefined, { status: 200, body: 'z'.repeat(3000) }, 30);
    // 30 ms: in the (25, 50] bucket, index 5 of 0.5, 1, 5, 10, 25, 50, ...
    expect(e.duration[5]).toBe(1);
    expect(e.durationSumMs).toBe(30);
    // Headers plus the 3000-byte body: (2500, 5000], index 11.
    expect(e.responseBytesSum).toBeGreaterThan(3000);
    expect(e.responseBytes[11]).toBe(1);
    expect(e.requestBytesSum).toBeGreaterThan(0);
  });

  it('host calls per stream: inbound 21, outbound 22 (21 with an upstream SAN), +1 for gRPC, +1 outbound without a peer', async () => {
    const calls = async (
      host: Partial<HostOptions>,
      properties: StreamProperties,
      request?: StreamRequest,
    ) => {
      const h = await hosts.start({
        pluginConfig: JSON.stringify({ mode: 'istio', cluster: 'nowhere' }),
        concurrency: 1,
        ...host,
      });
      const run = () =>
        h.runStream(request ?? { method: 'GET', path: '/' }, { status: 200 }, { properties });
      await run(); // warm
      const before = h.hostCallCount();
      await run();
      const n = h.hostCallCount() - before;
      await hosts.closeAll();
      return n;
    };
    const peer = { upstreamPeer: { metadata: REVIEWS } };
    expect(await calls(inbound, {})).toBe(21);
    expect(await calls(outbound, peer)).toBe(22);
    expect(await calls(outbound, { ...peer, upstreamUriSanPeerCertificate: REVIEWS_SPIFFE })).toBe(
      21,
    );
    const grpc: StreamRequest = {
      method: 'POST',
      path: '/',
      headers: [['content-type', 'application/grpc']],
    };
    expect(await calls(outbound, peer, grpc)).toBe(23);
    // Without an exchanged peer, one more read: the upstream endpoint's metadata.
    expect(await calls(outbound, {})).toBe(23);
  });

  it('outbound without an exchanged peer: the upstream endpoint metadata (istio.workload) names it', async () => {
    const e = await observe(
      {
        ...outbound,
        upstreamHostMetadata: {
          filter_metadata: { istio: { workload: 'reviews-v2;bookinfo;reviews;v2;Kubernetes' } },
        },
      },
      {},
    );
    expect(e.dims).toMatchObject({
      destination_workload: 'reviews-v2',
      destination_workload_namespace: 'bookinfo',
      destination_canonical_service: 'reviews',
      destination_canonical_revision: 'v2',
      destination_cluster: 'Kubernetes',
      destination_app: 'unknown',
      destination_version: 'unknown',
    });
    await hosts.closeAll();
    const exchanged = await observe(
      {
        ...outbound,
        upstreamHostMetadata: { filter_metadata: { istio: { workload: 'other;x;y;z;c' } } },
      },
      { upstreamPeer: { metadata: REVIEWS } },
    );
    expect(exchanged.dims.destination_workload).toBe('reviews-v1');
  });
});
