import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ProxyWasmHost, StreamRequest } from '../../../wasm-host/src';
import { startMesha, type MeshaProcess } from '../../../test/support/mesha';
import { scrape, sumSamples } from '../../../test/support/prometheus-text';
import { stopAllProcesses } from '../../../test/support/child-process';
import { waitFor } from '../../../test/support/wait-for';
import { BUCKET_BOUNDS_MS } from '../../../src/reports/report-validator';
import {
  SEED_CLUSTER,
  SEED_MESSAGE,
  countOf,
  header,
  parseReport,
  reportsOf,
  reporterHosts,
  type Report,
} from './support';

const METADATA = { WORKLOAD_NAME: 'shop-web', NAMESPACE: 'shop', NAME: 'shop-web-7d9f-abcde' };

/** One simulated stream and what the report must say about it. */
interface Planned {
  request: StreamRequest;
  status: number;
  durationMs: number;
  responseBody: string;
  expected: { method: string; code: string; route: string };
}

/** A deterministic mix of methods, status classes, route sources and durations. */
function plan(i: number): Planned {
  const methods = ['GET', 'POST', 'PUT', 'GET', 'PURGE'];
  const statuses = [200, 201, 404, 503, 302, 200, 101];
  const durations = [3, 7, 30, 20000, 120, 1];
  const method = methods[i % methods.length];
  const status = statuses[i % statuses.length];
  const byHeader = i % 3 === 0;
  const paths = ['/api/v1/items?x=1', '/', '/cart', '/api#frag', '//double'];
  const path = paths[i % paths.length];
  const firstSegment = ['api', '/', 'cart', 'api', '/'][i % paths.length];
  const event = ['add_to_cart', 'checkout'][i % 2];
  const body = i % 2 === 0 ? 'x'.repeat(i % 7) : '';
  return {
    request: {
      method,
      path,
      headers: byHeader ? [['x-track-event', event]] : [],
      body: body.length > 0 ? body : undefined,
    },
    status,
    durationMs: durations[i % durations.length],
    responseBody: 'y'.repeat(i % 5),
    expected: {
      method: method === 'PURGE' ? 'OTHER' : method,
      code: `${String(status)[0]}xx`,
      route: byHeader ? event : firstSegment,
    },
  };
}

const keyOf = (e: { method: string; code: string; route: string }) =>
  `${e.method} ${e.code} ${e.route}`;

/**
 * The path to mesha, on a loopback port: it answers 503 to the first `failures` requests, then
 * forwards each request to mesha with the Host header it received. `hosts` records every Host it saw.
 */
async function failingThenForwarding(
  target: string,
  failures: number,
): Promise<{ url: string; hosts: string[]; close(): Promise<void> }> {
  const hosts: string[] = [];
  let left = failures;
  const server: Server = createServer((req, res) => {
    hosts.push(req.headers.host ?? '');
    if (left > 0) {
      left--;
      req.resume();
      res.writeHead(503).end('not yet');
      return;
    }
    const upstream = request(
      target + (req.url ?? '/'),
      { method: req.method, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.writeHead(502).end());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hosts,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('reporter, traffic mode', () => {
  let mesha: MeshaProcess;
  const hosts = reporterHosts();
  let clockNs = 1_790_000_000_000n * 1_000_000n;

  beforeAll(async () => {
    mesha = await startMesha();
  });
  afterEach(() => hosts.closeAll());
  afterAll(async () => {
    await mesha?.stop();
    await stopAllProcesses();
  });

  async function runPlanned(host: ProxyWasmHost, p: Planned, vm: number): Promise<void> {
    const result = await host.runStream(
      p.request,
      async () => {
        clockNs += BigInt(p.durationMs) * 1_000_000n;
        return { status: p.status, body: p.responseBody };
      },
      { vm },
    );
    expect(result.status).toBe(p.status);
  }

  it('N streams over M ticks on two VMs: every report matches the schema, mesha counts exactly N, split correctly', async () => {
    const host = await hosts.start({
      pluginConfig: JSON.stringify({
        mode: 'traffic',
        tick_ms: 1000,
        route_header: 'X-Track-Event',
        headers: { 'x-tenant': 'blue' },
      }),
      concurrency: 2,
      clusters: { [SEED_CLUSTER]: mesha.url },
      nodeMetadata: METADATA,
      now: () => clockNs,
    });
    expect([host.tickPeriodMs(0), host.tickPeriodMs(1)]).toEqual([1000, 1000]);
    const ticks = 3;
    const perTick = 70;
    const expected = new Map<string, number>();
    const perVm = [0, 0];
    let bytesIn = 0;
    let bytesOut = 0;
    // One bucket per bound of the schema's $defs.bucketBoundsMs, then +Inf.
    const buckets = new Array<number>(BUCKET_BOUNDS_MS.length + 1).fill(0);
    let i = 0;
    for (let t = 0; t < ticks; t++) {
      for (let k = 0; k < perTick; k++, i++) {
        const p = plan(i);
        const vm = i % 3 === 0 ? 1 : 0; // uneven on purpose: the VMs' totals must differ
        await runPlanned(host, p, vm);
        expected.set(keyOf(p.expected), (expected.get(keyOf(p.expected)) ?? 0) + 1);
        perVm[vm]++;
        bytesIn += Buffer.byteLength((p.request.body as string | undefined) ?? '');
        bytesOut += p.responseBody.length;
        const b = BUCKET_BOUNDS_MS.findIndex((bound) => p.durationMs <= bound);
        buckets[b < 0 ? BUCKET_BOUNDS_MS.length : b]++;
      }
      await host.tick();
      await host.settle();
    }
    const total = ticks * perTick;

    // What the plugin sent: one report per VM per tick, all answered 200.
    expect(host.httpCalls).toHaveLength(2 * ticks);
    for (const call of host.httpCalls) {
      expect(call.cluster).toBe(SEED_CLUSTER);
      expect(call.status).toBe(0);
      expect(call.response?.status).toBe(200);
      expect(header(call, ':method')).toBe('POST');
      expect(header(call, ':path')).toBe('/wasmCallback');
      expect(header(call, ':authority')).toBe('mesha.istio12.svc.cluster.local');
      expect(header(call, 'content-type')).toBe('application/json');
      expect(header(call, 'melonMsg')).toBe(SEED_MESSAGE);
      expect(header(call, 'x-tenant')).toBe('blue');
      expect(header(call, 'x-mesha-reporter')).toBe(parseReport(call.body).reporter.id);
    }
    const reports = reportsOf(host.httpCalls);
    const byVm = (vm: number): Report[] =>
      host.httpCalls.filter((c) => c.vm === vm).map((c) => parseReport(c.body));
    const ids = [0, 1].map((vm) => new Set(byVm(vm).map((r) => r.reporter.id)));
    expect(ids.map((s) => s.size)).toEqual([1, 1]);
    expect([...ids[0]][0]).not.toBe([...ids[1]][0]);
    for (const vm of [0, 1]) {
      expect(byVm(vm).map((r) => r.reporter.seq)).toEqual([1, 2, 3]);
      expect(countOf(byVm(vm))).toBe(perVm[vm]);
      const windows = byVm(vm).map((r) => r.window);
      for (let w = 1; w < windows.length; w++)
        expect(windows[w].start_ms).toBe(windows[w - 1].end_ms);
    }
    expect(reports[0].source).toEqual({
      workload: 'shop-web',
      namespace: 'shop',
      pod: 'shop-web-7d9f-abcde',
    });

    // The split, the durations and the bytes, as reported.
    expect(countOf(reports)).toBe(total);
    for (const [key, n] of expected) {
      const [method, code, route] = key.split(' ');
      expect([key, countOf(reports, { method, code, route })]).toEqual([key, n]);
    }
    const sum = (f: (c: Report['counts'][number]) => number) =>
      reports.flatMap((r) => r.counts).reduce((s, c) => s + f(c), 0);
    expect(sum((c) => c.bytes_in)).toBe(bytesIn);
    expect(sum((c) => c.bytes_out)).toBe(bytesOut);
    const reportedBuckets = new Array<number>(12).fill(0);
    for (const c of reports.flatMap((r) => r.counts))
      c.duration_buckets.forEach((v, b) => (reportedBuckets[b] += v));
    expect(reportedBuckets).toEqual(buckets);
    expect(host.metrics().get('mesha_reporter_requests_observed')).toBe(total);
    expect(host.metrics().get('mesha_reporter_reports_sent')).toBe(2 * ticks);

    // What mesha made of it.
    const source = { source_workload: 'shop-web', source_namespace: 'shop' };
    const samples = await waitFor('mesha to count every observed request', async () => {
      const s = await scrape(mesha.url);
      return sumSamples(s, 'mesha_observed_requests_total', source) === total && s;
    });
    for (const [key, n] of expected) {
      const [method, code, route] = key.split(' ');
      const counted = sumSamples(samples, 'mesha_observed_requests_total', {
        ...source,
        method,
        code,
        route,
      });
      expect([key, counted]).toEqual([key, n]);
    }
  });

  it('hash_authority: every attempt of a report, re-sends included, carries <reporter id>.<authority>; mesha counts each once', async () => {
    const path = await failingThenForwarding(mesha.url, 2);
    try {
      const host = await hosts.start({
        pluginConfig: JSON.stringify({ mode: 'traffic', hash_authority: true, tick_ms: 1000 }),
        concurrency: 2,
        clusters: { [SEED_CLUSTER]: path.url },
        nodeMetadata: { WORKLOAD_NAME: 'hashed', NAMESPACE: 'authority' },
      });
      const perVm = [
        [3, 4],
        [5, 6],
      ];
      for (let t = 0; t < 2; t++) {
        for (const vm of [0, 1]) {
          for (let i = 0; i < perVm[vm][t]; i++)
            await host.runStream({ method: 'GET', path: '/hashed' }, { status: 200 }, { vm });
        }
        await host.tick();
        await host.settle();
      }
      // Tick 1: each VM's seq 1, answered 503. Tick 2: seq 1 re-sent, then seq 2; all answered 200.
      expect(host.httpCalls.map((c) => c.response?.status).sort()).toEqual([
        200, 200, 200, 200, 503, 503,
      ]);
      const authorities = [0, 1].map((vm) => {
        const calls = host.httpCalls.filter((c) => c.vm === vm);
        const id = parseReport(calls[0].body).reporter.id;
        expect(calls.map((c) => parseReport(c.body).reporter.seq)).toEqual([1, 1, 2]);
        for (const call of calls) {
          expect(parseReport(call.body).reporter.id).toBe(id);
          expect(header(call, 'x-mesha-reporter')).toBe(id);
          expect(header(call, ':authority')).toBe(`${id}.mesha.istio12.svc.cluster.local`);
        }
        return `${id}.mesha.istio12.svc.cluster.local`;
      });
      expect(authorities[0]).not.toBe(authorities[1]);
      // What reached the network (and, past the two 503s, mesha) as Host.
      expect([...path.hosts].sort()).toEqual(
        [...authorities, ...authorities, ...authorities].sort(),
      );
      const total = 3 + 4 + 5 + 6;
      await waitFor('mesha to count every report once', async () => {
        const s = await scrape(mesha.url);
        return (
          sumSamples(s, 'mesha_observed_requests_total', { source_workload: 'hashed' }) === total
        );
      });
      expect([0, 1].map((vm) => host.metrics(vm).get('mesha_reporter_reports_sent'))).toEqual([
        2, 2,
      ]);
    } finally {
      await path.close();
    }
  });

  it('bounds distinct routes by max_keys, escapes and clips odd route values, never traps', async () => {
    const host = await hosts.start({
      pluginConfig: JSON.stringify({ mode: 'traffic', route_header: 'x-track-event', max_keys: 3 }),
      concurrency: 1,
      clusters: { [SEED_CLUSTER]: mesha.url },
    });
    const odd = [
      'quote " back \\ slash',
      'ctl \u0001\t\n',
      'unicode é 漢字 😀',
      'long-'.repeat(60),
      'z'.repeat(127) + '😀',
    ];
    for (let r = 0; r < 10; r++) {
      await host.runStream({ method: 'GET', path: `/r${r}/x` }, { status: 200 });
    }
    for (const value of odd) {
      await host.runStream(
        { method: 'GET', path: '/', headers: [['x-track-event', value]] },
        { status: 204 },
      );
    }
    await host.runStream({ method: 'GET', path: '' }, { status: 200 });
    await host.tick(0);
    await host.settle();
    expect(host.isFailed(0)).toBe(false);
    const [report] = reportsOf(host.httpCalls);
    const routes = new Set(report.counts.map((c) => c.route));
    expect([...routes]).toEqual(['r0', 'r1', 'r2', '__overflow__']);
    expect(countOf([report])).toBe(16);
    expect(countOf([report], { route: '__overflow__' })).toBe(13);
    expect(host.httpCalls[0].response?.status).toBe(200);
    // Escaping, clipping (128 UTF-16 units, never half a surrogate pair) and an ASCII-only body.
    const host2 = await hosts.start({
      pluginConfig: JSON.stringify({ mode: 'traffic', route_header: 'x-track-event' }),
      concurrency: 1,
      clusters: { [SEED_CLUSTER]: mesha.url },
    });
    for (const value of odd) {
      await host2.runStream(
        { method: 'GET', path: '/', headers: [['x-track-event', value]] },
        { status: 200 },
      );
    }
    await host2.tick(0);
    await host2.settle();
    const body = host2.httpCalls[0].body;
    expect([...body].every((b) => b < 0x80)).toBe(true);
    const got = parseReport(body).counts.map((c) => c.route);
    expect(got).toEqual([odd[0], odd[1], odd[2], odd[3].slice(0, 128), 'z'.repeat(127)]);
  });

  it('costs 5 host calls per request (6 when the configured route header is absent), none in heartbeat mode', async () => {
    const traffic = await hosts.start({
      pluginConfig: JSON.stringify({ mode: 'traffic', route_header: 'x-track-event' }),
      concurrency: 1,
    });
    const heartbeat = await hosts.start({ pluginConfig: '{}', concurrency: 1 });
    const callsFor = async (
      host: ProxyWasmHost,
      headers: Array<[string, string]>,
      body?: string,
    ): Promise<number> => {
      const before = host.hostCallCount();
      await host.runStream(
        { method: 'POST', path: '/a/b', headers, body },
        { status: 200, body: 'ok' },
      );
      return host.hostCallCount() - before;
    };
    // :method, route header, clock at request headers; :status, clock at response headers.
    expect(await callsFor(traffic, [['x-track-event', 'buy']], 'body')).toBe(5);
    // ... plus :path when the route header is missing.
    expect(await callsFor(traffic, [])).toBe(6);
    expect(await callsFor(heartbeat, [['x-track-event', 'buy']], 'body')).toBe(0);
  });

  it('sends nothing on a tick without traffic', async () => {
    const host = await hosts.start({
      pluginConfig: '{"mode":"traffic"}',
      concurrency: 1,
      clusters: { [SEED_CLUSTER]: mesha.url },
    });
    await host.tick(0);
    await host.tick(0);
    await host.settle();
    expect(host.httpCalls).toHaveLength(0);
  });
});
