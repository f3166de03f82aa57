import type { HostOptions, ProxyWasmHost, StreamProperties } from '../../../wasm-host/src';
import type { ConnectionSink } from '../../../wasm-host/src/network-stream';
import { responseFlagBits } from '../../../wasm-host/src/istio/response-flags';
import {
  entriesOf,
  PRODUCTPAGE,
  PRODUCTPAGE_SPIFFE,
  REVIEWS,
  REVIEWS_CLUSTER,
  REVIEWS_CLUSTER_METADATA,
  REVIEWS_SPIFFE,
  tcpEntriesOf,
} from './istio-support';
import { reporterHosts } from './support';

// The reporter as an Istio network filter (WasmPlugin type NETWORK), one connection at a time
// through the built reporter in the proxy-wasm host: its TCP entries carry istio_stats' TCP
// labels, the bytes each way, and the connection opened and closed once.
describe('reporter, istio mode: TCP connections', () => {
  const hosts = reporterHosts();
  afterEach(() => hosts.closeAll());

  const sink: ConnectionSink = {
    toUpstream: () => undefined,
    toDownstream: () => undefined,
    endUpstream: () => undefined,
    endDownstream: () => undefined,
    closeDownstream: () => undefined,
    closeUpstream: () => undefined,
  };

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

  function start(host: Partial<HostOptions>, mode = 'istio'): Promise<ProxyWasmHost> {
    return hosts.start({
      pluginConfig: JSON.stringify({ mode, cluster: 'nowhere' }),
      concurrency: 1,
      ...host,
    });
  }

  /** One connection: `up` client bytes, `down` server bytes, then the client closes. */
  async function connection(
    h: ProxyWasmHost,
    properties: StreamProperties,
    up: number[],
    down: number[],
  ): Promise<void> {
    const conn = h.openConnection(sink, { properties });
    expect(conn.start()).toBe(true);
    for (const n of up) conn.downstreamData(Buffer.alloc(n, 0x61), false);
    for (const n of down) conn.upstreamData(Buffer.alloc(n, 0x62), false);
    conn.downstreamConnectionClosed();
    await conn.done;
  }

  it('outbound: reporter=source, the exchanged peer as destination, bytes each way, opened and closed', async () => {
    const h = await start(outbound);
    await connection(h, { upstreamPeer: { metadata: REVIEWS } }, [100, 23], [4000]);
    await h.tick();
    const entries = tcpEntriesOf(h.httpCalls);
    expect(entries).toEqual([
      {
        dims: {
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
          request_protocol: 'tcp',
          response_flags: '-',
          connection_security_policy: 'unknown',
        },
        opened: 1,
        closed: 1,
        received: 123,
        sent: 4000,
      },
    ]);
    // A TCP-only window has no HTTP entries.
    expect(entriesOf(h.httpCalls)).toEqual([]);
  });

  it('inbound with mutual TLS: reporter=destination, principals from the SANs, mutual_tls', async () => {
    const h = await start(inbound);
    await connection(
      h,
      {
        downstreamPeer: { metadata: PRODUCTPAGE },
        mtls: true,
        uriSanLocalCertificate: REVIEWS_SPIFFE,
        uriSanPeerCertificate: PRODUCTPAGE_SPIFFE,
        responseFlags: responseFlagBits(['UF']),
      },
      [7],
      [9],
    );
    await h.tick();
    const [e] = tcpEntriesOf(h.httpCalls);
    expect(e.dims).toMatchObject({
      reporter: 'destination',
      source_workload: 'productpage-v1',
      source_principal: PRODUCTPAGE_SPIFFE,
      destination_workload: 'reviews-v1',
      destination_principal: REVIEWS_SPIFFE,
      destination_service: 'reviews',
      destination_service_namespace: 'bookinfo',
      request_protocol: 'tcp',
      response_flags: 'UF',
      connection_security_policy: 'mutual_tls',
    });
    expect(e).toMatchObject({ opened: 1, closed: 1, received: 7, sent: 9 });
  });

  it('outbound without an exchanged peer: the upstream endpoint metadata names the destination', async () => {
    const h = await start({
      ...outbound,
      upstreamHostMetadata: {
        filter_metadata: { istio: { workload: 'reviews-v2;bookinfo;reviews;v2;Kubernetes' } },
      },
    });
    await connection(h, {}, [1], []);
    await h.tick();
    const [e] = tcpEntriesOf(h.httpCalls);
    expect(e.dims).toMatchObject({
      destination_workload: 'reviews-v2',
      destination_canonical_revision: 'v2',
      destination_app: 'unknown',
    });
    expect(e).toMatchObject({ opened: 1, closed: 1, received: 1, sent: 0 });
  });

  /** The host hands data to the plugin in order, asynchronously: wait until it went through. */
  const passed = () => new Promise((resolve) => setImmediate(resolve));

  it('a long connection is reported per tick: opened once, bytes as they pass, closed at its end', async () => {
    const h = await start(outbound);
    // Reports not answered (no mesha here) are sent again each tick: count each seq once.
    const seen = new Set<number>();
    const news = () =>
      tcpEntriesOf(
        h.httpCalls.splice(0).filter((call) => {
          const seq = (JSON.parse(call.body.toString()) as { reporter: { seq: number } }).reporter
            .seq;
          return !seen.has(seq) && seen.add(seq);
        }),
      );
    const conn = h.openConnection(sink, { properties: { upstreamPeer: { metadata: REVIEWS } } });
    conn.start();
    conn.downstreamData(Buffer.alloc(10), false);
    conn.upstreamData(Buffer.alloc(20), false);
    await passed();
    await h.tick();
    expect(news()).toMatchObject([{ opened: 1, closed: 0, received: 10, sent: 20 }]);
    // A tick without news reports nothing.
    await h.tick();
    expect(news()).toEqual([]);
    conn.downstreamData(Buffer.alloc(5), false);
    await passed();
    await h.tick();
    expect(news()).toMatchObject([{ opened: 0, closed: 0, received: 5, sent: 0 }]);
    conn.upstreamData(Buffer.alloc(3), true);
    conn.downstreamConnectionClosed();
    await conn.done;
    await h.tick();
    expect(news()).toMatchObject([{ opened: 0, closed: 1, received: 0, sent: 3 }]);
  });

  it('connections of one dimension set add up into one entry; HTTP and TCP share a report', async () => {
    const h = await start(outbound);
    const peer = { upstreamPeer: { metadata: REVIEWS } };
    await Promise.all([
      connection(h, peer, [1], [2]),
      connection(h, peer, [3], [4]),
      connection(h, peer, [], []),
    ]);
    await h.runStream({ method: 'GET', path: '/', authority: 'reviews:9080' }, () =>
      Promise.resolve({ status: 200 }),
    );
    await h.tick();
    expect(h.httpCalls).toHaveLength(1);
    expect(tcpEntriesOf(h.httpCalls)).toMatchObject([
      { opened: 3, closed: 3, received: 4, sent: 6 },
    ]);
    expect(entriesOf(h.httpCalls)).toHaveLength(1);
  });

  it('past max_keys, further TCP sets go to the overflow set', async () => {
    const h = await hosts.start({
      pluginConfig: JSON.stringify({ mode: 'istio', cluster: 'nowhere', max_keys: 1 }),
      concurrency: 1,
      ...outbound,
    });
    await connection(h, { upstreamPeer: { metadata: REVIEWS } }, [1], []);
    await connection(h, { upstreamPeer: { metadata: PRODUCTPAGE } }, [2], []);
    await h.tick();
    const entries = tcpEntriesOf(h.httpCalls);
    expect(entries.map((e) => [e.dims.destination_workload, e.received])).toEqual([
      ['reviews-v1', 1],
      ['__overflow__', 2],
    ]);
  });

  it('host calls: the dimensions once per connection, none per data callback once the peer is known', async () => {
    const count = async (
      host: Partial<HostOptions>,
      properties: StreamProperties,
      chunks: number,
    ) => {
      const h = await start(host);
      const run = () => connection(h, properties, new Array<number>(chunks).fill(10), [5]);
      await run(); // warm
      const before = h.hostCallCount();
      await run();
      const n = h.hostCallCount() - before;
      await hosts.closeAll();
      return n;
    };
    const down = { downstreamPeer: { metadata: PRODUCTPAGE } };
    const up = { upstreamPeer: { metadata: REVIEWS } };
    const inboundCalls = await count(inbound, down, 1);
    const outboundCalls = await count(outbound, up, 1);
    expect(await count(inbound, down, 50)).toBe(inboundCalls);
    expect(await count(outbound, up, 50)).toBe(outboundCalls);
    // Is the peer there (listener_direction, its workload), then listener_direction, 7 peer fields,
    // 2 SANs (+ the peer identity outbound), xds.cluster_name, 3 cluster-metadata fields,
    // response.flags.
    expect(inboundCalls).toBe(17);
    expect(outboundCalls).toBe(18);
    // Without a peer, each data callback looks for it (2 calls), and the end reads what there is.
    expect((await count(inbound, {}, 50)) - (await count(inbound, {}, 1))).toBe(2 * 49);
  });

  it('the peer learned after the first bytes: the connection is reported from then on, with the bytes before', async () => {
    const h = await start(outbound);
    const properties: StreamProperties = {};
    const conn = h.openConnection(sink, { properties });
    conn.start();
    conn.downstreamData(Buffer.alloc(40), false);
    await passed();
    await h.tick();
    // Not reported before the peer is known (istio_stats waits for the exchange too).
    expect(tcpEntriesOf(h.httpCalls)).toEqual([]);
    properties.upstreamPeer = { metadata: REVIEWS };
    conn.upstreamData(Buffer.alloc(60), false);
    await passed();
    await h.tick();
    expect(tcpEntriesOf(h.httpCalls)).toMatchObject([
      {
        dims: { destination_workload: 'reviews-v1' },
        opened: 1,
        closed: 0,
        received: 40,
        sent: 60,
      },
    ]);
    conn.downstreamConnectionClosed();
    await conn.done;
  });

  it.each(['traffic', 'heartbeat'])(
    '%s mode lets connections through and reports none',
    async (mode) => {
      const h = await start(outbound, mode);
      await connection(h, {}, [10], [10]);
      await h.tick();
      expect(h.httpCalls.filter((c) => c.body.includes('"tcp"'))).toEqual([]);
    },
  );
});
