import { PluginLoadError } from '../../../wasm-host/src';
import { parseReport, reporterHosts } from './support';
import { entriesOf, tcpEntriesOf } from './istio-support';

/** A small deterministic PRNG (mulberry32), so a failure replays exactly. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const VALID = JSON.stringify({
  cluster: 'outbound|7171||mesha',
  authority: 'mesha',
  path: '/wasmCallback',
  tick_ms: 1000,
  timeout_ms: 500,
  message: 'm',
  headers: { 'x-a': 'b' },
  mode: 'traffic',
  route_header: 'x-track-event',
  max_keys: 16,
  max_pending: 4,
});
const ALPHABET = '{}[]:,"\\/ -+.eE0123456789abcfnrtuxyz\u0000\u0001\n\té漢😀\ud800';

function mutate(text: string, random: () => number): string {
  const chars = [...text];
  const edits = 1 + Math.floor(random() * 4);
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(random() * (chars.length + 1));
    const pick = ALPHABET[Math.floor(random() * ALPHABET.length)];
    const op = random();
    if (op < 0.4) chars.splice(at, 1);
    else if (op < 0.8) chars.splice(at, 0, pick);
    else chars.splice(at, 1, pick);
  }
  return chars.join('');
}

describe('reporter never traps', () => {
  const hosts = reporterHosts();
  afterEach(() => hosts.closeAll());

  it('on 400 mutated configurations: each is accepted or refused with a CRITICAL line, never a trap', async () => {
    const random = prng(0x5eed);
    let accepted = 0;
    let refused = 0;
    for (let i = 0; i < 400; i++) {
      const pluginConfig = i === 0 ? VALID : mutate(VALID, random);
      const critical: string[] = [];
      try {
        await hosts.start({
          pluginConfig,
          concurrency: 1,
          onLog: (e) => {
            if (e.level === 5) critical.push(e.message);
          },
        });
        accepted++;
      } catch (err) {
        expect(err).toBeInstanceOf(PluginLoadError);
        const message = (err as Error).message;
        expect([pluginConfig, message]).toEqual([
          pluginConfig,
          expect.stringContaining('proxy_on_configure returned false'),
        ]);
        expect([pluginConfig, critical]).toEqual([
          pluginConfig,
          [expect.stringContaining('invalid configuration')],
        ]);
        refused++;
      }
      if (i % 50 === 49) await hosts.closeAll();
    }
    expect(accepted).toBeGreaterThan(0);
    expect(refused).toBeGreaterThan(0);
  });

  it('on 3000 streams with random methods, paths, route values and statuses: reports still match the schema', async () => {
    const random = prng(42);
    const host = await hosts.start({
      pluginConfig: JSON.stringify({
        mode: 'traffic',
        cluster: 'nowhere',
        route_header: 'x-track-event',
        max_keys: 50,
      }),
      concurrency: 1,
    });
    const text = (max: number) => {
      let s = '';
      const n = Math.floor(random() * max);
      for (let i = 0; i < n; i++) s += String.fromCodePoint(Math.floor(random() * 0x2fff));
      return s;
    };
    const methods = ['GET', 'get', 'POST', 'X'.repeat(40), 'M\u00e9THOD', ''];
    for (let i = 0; i < 3000; i++) {
      const headers: Array<[string, string]> = random() < 0.5 ? [['x-track-event', text(300)]] : [];
      await host.runStream(
        {
          method: methods[i % methods.length],
          path: random() < 0.1 ? text(10) : `/${text(200)}`,
          headers,
          body: random() < 0.3 ? text(50) : undefined,
        },
        { status: Math.floor(random() * 1000), body: text(20) },
      );
      if (i % 500 === 499) await host.tick(0);
    }
    expect(host.isFailed(0)).toBe(false);
    expect(host.metrics(0).get('mesha_reporter_requests_observed')).toBe(3000);
    const bodies = new Set(host.httpCalls.map((c) => c.body.toString('latin1')));
    expect(bodies.size).toBeGreaterThan(0);
    for (const body of bodies) parseReport(Buffer.from(body, 'latin1'));
  });

  it('istio mode, on 2000 streams with random peers, SANs, hosts, clusters, flags and statuses: reports match schema v2', async () => {
    const random = prng(7);
    const text = (max: number) => {
      let s = '';
      const n = Math.floor(random() * max);
      for (let i = 0; i < n; i++) s += String.fromCodePoint(Math.floor(random() * 0x2fff));
      return s;
    };
    const maybe = (max: number) => (random() < 0.3 ? undefined : text(max));
    const host = await hosts.start({
      pluginConfig: JSON.stringify({ mode: 'istio', cluster: 'nowhere', max_keys: 40 }),
      concurrency: 1,
      nodeMetadataStruct: { WORKLOAD_NAME: text(400), NAMESPACE: '', LABELS: { app: text(20) } },
      clusterMetadata: { filter_metadata: { istio: { services: [{ host: text(40) }] } } },
    });
    for (let i = 0; i < 2000; i++) {
      const peer = {
        WORKLOAD_NAME: text(300),
        NAMESPACE: text(10),
        CLUSTER_ID: text(5),
        LABELS: { app: text(8), 'service.istio.io/canonical-name': text(8) },
      };
      await host.runStream(
        {
          method: 'GET',
          path: `/${text(50)}`,
          authority: text(300),
          headers:
            random() < 0.3
              ? [['content-type', random() < 0.5 ? 'application/grpc' : text(20)]]
              : [],
        },
        {
          status: Math.floor(random() * 1000),
          trailers: random() < 0.2 ? [['grpc-status', text(3)]] : [],
        },
        {
          properties: {
            listenerDirection: random() < 0.5 ? 'inbound' : 'outbound',
            downstreamPeer: random() < 0.8 ? { metadata: peer } : undefined,
            upstreamPeer: random() < 0.8 ? { metadata: peer } : undefined,
            uriSanPeerCertificate: maybe(300),
            uriSanLocalCertificate: maybe(30),
            upstreamUriSanPeerCertificate: random() < 0.5 ? `spiffe://x/ns/${text(5)}` : undefined,
            responseFlags: Math.floor(random() * 2 ** 31),
            noResponse: random() < 0.1,
            clusterName: random() < 0.1 ? 'BlackHoleCluster' : maybe(30),
          },
        },
      );
      if (i % 400 === 399) await host.tick(0);
    }
    expect(host.isFailed(0)).toBe(false);
    expect(host.metrics(0).get('mesha_reporter_requests_observed')).toBe(2000);
    // Each report once (undelivered ones are re-sent every tick, the same bytes).
    const seen = new Set<string>();
    const once = host.httpCalls.filter(
      (c) => !seen.has(c.body.toString()) && !!seen.add(c.body.toString()),
    );
    const entries = entriesOf(once);
    expect(entries.reduce((t, e) => t + e.n, 0)).toBe(2000);
    for (const e of entries)
      for (const v of Object.values(e.dims)) expect(v.length).toBeLessThanOrEqual(256);
  });

  it('istio mode as a network filter, on 1000 connections with random peers, chunks, close orders and ticks: reports match schema v2, bytes add up', async () => {
    const random = prng(11);
    const text = (max: number) => {
      let s = '';
      const n = Math.floor(random() * max);
      for (let i = 0; i < n; i++) s += String.fromCodePoint(Math.floor(random() * 0x2fff));
      return s;
    };
    const host = await hosts.start({
      pluginConfig: JSON.stringify({ mode: 'istio', cluster: 'nowhere', max_keys: 30 }),
      concurrency: 1,
      nodeMetadataStruct: { WORKLOAD_NAME: text(400), NAMESPACE: text(5) },
    });
    const sink = {
      toUpstream: () => undefined,
      toDownstream: () => undefined,
      endUpstream: () => undefined,
      endDownstream: () => undefined,
      closeDownstream: () => undefined,
      closeUpstream: () => undefined,
    };
    let received = 0;
    let sent = 0;
    const open: Array<ReturnType<typeof host.openConnection>> = [];
    const total = 1000;
    for (let i = 0; i < total; i++) {
      const peer = { WORKLOAD_NAME: text(300), NAMESPACE: text(10), LABELS: { app: text(8) } };
      const conn = host.openConnection(sink, {
        properties: {
          listenerDirection: random() < 0.5 ? 'inbound' : 'outbound',
          downstreamPeer: random() < 0.7 ? { metadata: peer } : undefined,
          upstreamPeer: random() < 0.7 ? { metadata: peer } : undefined,
          uriSanPeerCertificate: random() < 0.5 ? text(300) : undefined,
          responseFlags: Math.floor(random() * 2 ** 31),
          clusterName: random() < 0.1 ? 'PassthroughCluster' : text(20),
        },
      });
      expect(conn.start()).toBe(true);
      const chunks = Math.floor(random() * 4);
      for (let c = 0; c < chunks; c++) {
        const n = Math.floor(random() * 3000);
        if (random() < 0.5) {
          conn.downstreamData(Buffer.alloc(n), random() < 0.1);
          received += n;
        } else {
          conn.upstreamData(Buffer.alloc(n), random() < 0.1);
          sent += n;
        }
      }
      open.push(conn);
      // Some connections outlive a tick or several.
      while (open.length > 0 && random() < 0.6) {
        const [gone] = open.splice(Math.floor(random() * open.length), 1);
        if (random() < 0.5) gone.upstreamConnectionClosed();
        gone.downstreamConnectionClosed();
        await gone.done;
      }
      if (i % 100 === 99) {
        await new Promise((resolve) => setImmediate(resolve));
        await host.tick(0);
      }
    }
    for (const conn of open.splice(0)) {
      conn.downstreamConnectionClosed();
      await conn.done;
    }
    await host.tick(0);
    expect(host.isFailed(0)).toBe(false);
    const seen = new Set<string>();
    const once = host.httpCalls.filter(
      (c) => !seen.has(c.body.toString()) && !!seen.add(c.body.toString()),
    );
    const entries = tcpEntriesOf(once);
    const sum = (pick: (e: (typeof entries)[number]) => number) =>
      entries.reduce((t, e) => t + pick(e), 0);
    expect(sum((e) => e.opened)).toBe(total);
    expect(sum((e) => e.closed)).toBe(total);
    expect(sum((e) => e.received)).toBe(received);
    expect(sum((e) => e.sent)).toBe(sent);
    for (const e of entries)
      for (const v of Object.values(e.dims)) expect(v?.length).toBeLessThanOrEqual(256);
  });
});
