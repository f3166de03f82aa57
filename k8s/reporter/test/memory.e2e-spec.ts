import { Status, type StreamRequest, type UpstreamResponse } from '../../../wasm-host/src';
import { reporterHosts } from './support';

// The plugin's linear memory must stop growing once warm: the incremental GC reclaims per-stream and
// per-report garbage, and every structure the plugin keeps is bounded (streams, routes, pending reports).
// The cluster is unknown on purpose: dispatches fail synchronously (BAD_ARGUMENT), so reports are built,
// kept, re-sent and dropped at full speed without network round trips. The clock is simulated (each read
// advances it 1.7 ms) so every run allocates exactly the same way.
function steppingClock(): () => bigint {
  let ns = 1_790_000_000_000_000_000n;
  return () => (ns += 1_700_000n);
}

describe('reporter memory stays flat', () => {
  const hosts = reporterHosts();
  afterEach(() => hosts.closeAll());

  it('100k ticks (a report built, re-sent and dropped on every tenth)', async () => {
    const host = await hosts.start({
      pluginConfig: JSON.stringify({ mode: 'traffic', cluster: 'nowhere', max_pending: 1 }),
      concurrency: 1,
      now: steppingClock(),
    });
    const upstream: UpstreamResponse = { status: 200, body: 'ok' };
    // The host keeps the last 10k call records and trims the oldest one per call past that, which costs
    // more than the tick itself: take the records off every 1000 ticks, checking each as it goes.
    let attempts = 0;
    let notBadArgument = 0;
    const takeCalls = () => {
      for (const call of host.httpCalls.splice(0)) {
        attempts++;
        if (call.status !== (Status.BAD_ARGUMENT as number)) notBadArgument++;
      }
    };
    let warm = 0;
    const started = Date.now();
    for (let t = 1; t <= 100_000; t++) {
      if (t % 10 === 0) await host.runStream({ method: 'GET', path: `/t${t % 300}` }, upstream);
      await host.tick(0);
      if (t % 1000 === 0) takeCalls();
      if (t === 10_000) warm = host.memoryBytes(0);
    }
    takeCalls();
    const m = host.metrics(0);
    expect(m.get('mesha_reporter_requests_observed')).toBe(10_000);
    expect(m.get('mesha_reporter_reports_dropped')).toBe(9_999);
    expect(notBadArgument).toBe(0);
    expect(m.get('mesha_reporter_reports_failed')).toBe(attempts);
    expect(host.isFailed(0)).toBe(false);
    expect(host.memoryBytes(0)).toBe(warm);
    process.stdout.write(`100k ticks: ${Date.now() - started} ms, memory ${warm} bytes\n`);
  }, 180_000);

  it('1.2M streams (routes past max_keys, route header, bodies, every status class)', async () => {
    const host = await hosts.start({
      pluginConfig: JSON.stringify({
        mode: 'traffic',
        cluster: 'nowhere',
        route_header: 'x-track-event',
        max_keys: 64,
        max_pending: 2,
      }),
      concurrency: 1,
      now: steppingClock(),
    });
    // A few fixed requests and responses, reused: the host's own allocations stay out of the way.
    const requests: StreamRequest[] = [];
    for (let r = 0; r < 200; r++) {
      requests.push(
        r % 4 === 0
          ? { method: 'POST', path: '/', headers: [['x-track-event', `event-${r}`]], body: 'abc' }
          : { method: ['GET', 'PUT', 'PURGE'][r % 3], path: `/route-${r}/item?id=${r}` },
      );
    }
    const upstreams: UpstreamResponse[] = [101, 200, 302, 404, 503].map((status) => ({
      status,
      body: 'x'.repeat(status % 7),
    }));
    const total = 1_200_000;
    let warm = 0;
    const started = Date.now();
    for (let i = 1; i <= total; i++) {
      await host.runStream(requests[i % requests.length], upstreams[i % upstreams.length]);
      if (i % 10_000 === 0) await host.tick(0);
      // Allocation is deterministic here (stepping clock, fixed inputs); the heap reaches its high-water
      // mark, 256 KiB, after 0.6M to 1M streams depending on the binary's layout (with TCP in: between
      // 0.9M and 1M) and stays there (probed to 2.5M before TCP, to 1.6M with it).
      if (i === 1_100_000) warm = host.memoryBytes(0);
    }
    await host.tick(0);
    expect(host.metrics(0).get('mesha_reporter_requests_observed')).toBe(total);
    expect(host.isFailed(0)).toBe(false);
    expect(host.memoryBytes(0)).toBe(warm);
    expect(warm).toBeLessThanOrEqual(256 * 1024);
    process.stdout.write(`1.2M streams: ${Date.now() - started} ms, memory ${warm} bytes\n`);
  }, 180_000);

  // 100k, not 1M: an istio-mode stream costs ~22 property reads in this host (1M took 6 min on the
  // shared 2-core machine); the per-stream and per-tick machinery is the one the 1M test above runs.
  it('100k streams in istio mode (dimension sets past max_keys, both directions, peers)', async () => {
    const host = await hosts.start({
      pluginConfig: JSON.stringify({
        mode: 'istio',
        cluster: 'nowhere',
        max_keys: 64,
        max_pending: 2,
      }),
      concurrency: 1,
      now: steppingClock(),
      nodeMetadataStruct: {
        WORKLOAD_NAME: 'reviews-v1',
        NAMESPACE: 'bookinfo',
        LABELS: { app: 'reviews' },
      },
    });
    const peers = Array.from({ length: 50 }, (_, p) => ({
      metadata: { WORKLOAD_NAME: `client-${p}`, NAMESPACE: 'bookinfo', LABELS: { app: `c${p}` } },
    }));
    const upstreams: UpstreamResponse[] = [200, 404, 503].map((status) => ({ status, body: 'x' }));
    const request: StreamRequest = { method: 'GET', path: '/r', authority: 'reviews:9080' };
    const total = 100_000;
    let warm = 0;
    const started = Date.now();
    for (let i = 1; i <= total; i++) {
      await host.runStream(request, upstreams[i % 3], {
        properties: {
          listenerDirection: i % 2 === 0 ? 'inbound' : 'outbound',
          downstreamPeer: peers[i % peers.length],
          upstreamPeer: peers[(i * 7) % peers.length],
        },
      });
      if (i % 1_000 === 0) await host.tick(0);
      if (i === 10_000) warm = host.memoryBytes(0);
    }
    await host.tick(0);
    expect(host.metrics(0).get('mesha_reporter_requests_observed')).toBe(total);
    expect(host.isFailed(0)).toBe(false);
    expect(host.memoryBytes(0)).toBe(warm);
    process.stdout.write(`100k istio streams: ${Date.now() - started} ms, memory ${warm} bytes\n`);
  }, 180_000);

  it('40k TCP connections in istio mode (dimension sets past max_keys, both directions, some across ticks)', async () => {
    const host = await hosts.start({
      pluginConfig: JSON.stringify({
        mode: 'istio',
        cluster: 'nowhere',
        max_keys: 16,
        max_pending: 2,
      }),
      concurrency: 1,
      now: steppingClock(),
      nodeMetadataStruct: { WORKLOAD_NAME: 'reviews-v1', NAMESPACE: 'bookinfo' },
    });
    const sink = {
      toUpstream: () => undefined,
      toDownstream: () => undefined,
      endUpstream: () => undefined,
      endDownstream: () => undefined,
      closeDownstream: () => undefined,
      closeUpstream: () => undefined,
    };
    const peers = Array.from({ length: 40 }, (_, p) => ({
      metadata: { WORKLOAD_NAME: `client-${p}`, NAMESPACE: 'bookinfo' },
    }));
    const chunk = Buffer.alloc(512);
    const total = 40_000;
    let warm = 0;
    let held: ReturnType<typeof host.openConnection> | undefined;
    for (let i = 1; i <= total; i++) {
      const conn = host.openConnection(sink, {
        properties: {
          listenerDirection: i % 2 === 0 ? 'inbound' : 'outbound',
          downstreamPeer: peers[i % peers.length],
          upstreamPeer: peers[(i * 7) % peers.length],
        },
      });
      conn.start();
      conn.downstreamData(chunk, false);
      conn.upstreamData(chunk, false);
      // Every 100th connection stays open over the next tick.
      if (i % 100 === 0) {
        held?.downstreamConnectionClosed();
        if (held) await held.done;
        held = conn;
      } else {
        conn.downstreamConnectionClosed();
        await conn.done;
      }
      if (i % 500 === 0) await host.tick(0);
      // Deterministic (stepping clock, fixed inputs): the heap's high-water mark, 128 KiB, is reached
      // before 20k connections and holds (probed to 100k).
      if (i === 20_000) warm = host.memoryBytes(0);
    }
    held?.downstreamConnectionClosed();
    if (held) await held.done;
    await host.tick(0);
    expect(host.isFailed(0)).toBe(false);
    expect(host.memoryBytes(0)).toBe(warm);
    expect(warm).toBeLessThanOrEqual(128 * 1024);
  }, 120_000);
});
