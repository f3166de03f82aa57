import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { stopAllProcesses } from '../../../test/support/child-process';
import { startMesha, type MeshaProcess } from '../../../test/support/mesha';
import { startPrometheus, type PrometheusServer } from '../../../test/support/prometheus';
import { waitFor } from '../../../test/support/wait-for';
import { ISTIO_LABELS } from '../../../src/istio/report-v2.types';
import { startSidecarCli } from '../../../wasm-host/test/support/sidecar-cli';
import {
  PRODUCTPAGE,
  PRODUCTPAGE_SPIFFE,
  REVIEWS,
  REVIEWS_CLUSTER,
  REVIEWS_CLUSTER_METADATA,
  REVIEWS_SPIFFE,
} from './istio-support';
import { SEED_CLUSTER, WASM_PATH } from './support';

/** What the reviews app answers, by path: the status, and how long it takes. */
const ROUTES: Record<string, { status: number; delayMs: number }> = {
  '/ok': { status: 200, delayMs: 0 },
  '/missing': { status: 404, delayMs: 0 },
  '/fail': { status: 503, delayMs: 0 },
  '/slow': { status: 201, delayMs: 600 },
};
/** Requests per sidecar pair: the plain one, then the one with --mtls. */
const PLAIN = { '/ok': 10, '/missing': 4, '/fail': 3, '/slow': 2 };
const MTLS = { '/ok': 6, '/fail': 2 };
const total = (plan: Record<string, number>) => Object.values(plan).reduce((a, b) => a + b, 0);

// Istio's setting, emulated: client -> productpage-v1's outbound sidecar -> reviews-v1's inbound
// sidecar -> the reviews app, both sidecars with --metadata-exchange and the built reporter in
// istio mode, reporting to a real mesha that a real Prometheus scrapes every second. PromQL in the
// shape of Istio's Workload, Service and Mesh dashboards must answer exactly what was sent.
describe("chained sidecars in istio mode, read through Prometheus like Istio's dashboards", () => {
  let mesha: MeshaProcess;
  let prometheus: PrometheusServer;
  let app: Server;
  let appUrl: string;
  const appSaw: IncomingHttpHeaders[] = [];

  beforeAll(async () => {
    mesha = await startMesha();
    app = createServer((req, res) => {
      appSaw.push(req.headers);
      const route = ROUTES[req.url ?? ''] ?? { status: 404, delayMs: 0 };
      req.resume();
      setTimeout(() => res.writeHead(route.status).end('r'.repeat(100)), route.delayMs);
    });
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    appUrl = `http://127.0.0.1:${(app.address() as AddressInfo).port}`;

    prometheus = await startPrometheus([`127.0.0.1:${mesha.port}`]);
  }, 120_000);

  afterAll(async () => {
    await prometheus?.stop();
    await mesha?.stop();
    await stopAllProcesses();
    await new Promise<void>((resolve) => (app ? app.close(() => resolve()) : resolve()));
  });

  const query = (expr: string) => prometheus.query(expr);
  const valueOf = async (expr: string): Promise<number | undefined> => {
    const result = await query(expr);
    return result.length === 1 ? Number(result[0].value[1]) : undefined;
  };

  /** Starts the pair; both report to mesha in istio mode every second. */
  async function pair(mtls: boolean): Promise<string> {
    const common = [
      '--wasm',
      WASM_PATH,
      '--config',
      JSON.stringify({ mode: 'istio', tick_ms: 1000 }),
      '--cluster',
      `${SEED_CLUSTER}=${mesha.url}`,
      '--metadata-exchange',
      ...(mtls ? ['--mtls'] : []),
    ];
    const reviews = await startSidecarCli([
      ...common,
      '--upstream',
      appUrl,
      '--listener-direction',
      'inbound',
      '--node-metadata-json',
      JSON.stringify(REVIEWS),
    ]);
    const productpage = await startSidecarCli([
      ...common,
      '--upstream',
      reviews.url,
      '--listener-direction',
      'outbound',
      '--node-metadata-json',
      JSON.stringify(PRODUCTPAGE),
      '--cluster-name',
      REVIEWS_CLUSTER,
      '--cluster-metadata-json',
      JSON.stringify(REVIEWS_CLUSTER_METADATA),
    ]);
    return productpage.url;
  }

  async function send(url: string, plan: Record<string, number>): Promise<void> {
    for (const [path, n] of Object.entries(plan)) {
      for (let i = 0; i < n; i++) {
        const res = await fetch(`${url}${path}`, { headers: { host: 'reviews:9080' } });
        expect(res.status).toBe(ROUTES[path].status);
        // Istio strips the exchange before anyone outside the sidecars sees it.
        expect(res.headers.get('x-envoy-peer-metadata')).toBeNull();
        await res.arrayBuffer();
      }
    }
  }

  it('Workload, Service and Mesh dashboard queries answer exactly what was sent, for both reporters', async () => {
    await send(await pair(false), PLAIN);
    await send(await pair(true), MTLS);
    const all = total(PLAIN) + total(MTLS);
    expect(appSaw).toHaveLength(all);
    for (const headers of appSaw) {
      expect(headers['x-envoy-peer-metadata']).toBeUndefined();
      expect(headers['x-envoy-peer-metadata-id']).toBeUndefined();
    }

    // Everything reported by both sides and scraped: then every query below is final.
    for (const reporter of ['source', 'destination']) {
      await waitFor(
        `Prometheus to see ${all} requests reported by the ${reporter}`,
        async () => (await valueOf(`sum(istio_requests_total{reporter="${reporter}"})`)) === all,
        { timeoutMs: 60_000, intervalMs: 250 },
      );
    }

    // Workload dashboard: inbound traffic of reviews-v1 by source workload and namespace.
    const inbound = await query(
      'sum(istio_requests_total{reporter="destination",destination_workload="reviews-v1",destination_workload_namespace="bookinfo"}) by (source_workload, source_workload_namespace)',
    );
    expect(inbound.map((r) => [r.metric, Number(r.value[1])])).toEqual([
      [{ source_workload: 'productpage-v1', source_workload_namespace: 'bookinfo' }, all],
    ]);
    // ... and outbound traffic of productpage-v1 by destination workload and namespace.
    const outbound = await query(
      'sum(istio_requests_total{reporter="source",source_workload="productpage-v1",source_workload_namespace="bookinfo"}) by (destination_workload, destination_workload_namespace)',
    );
    expect(outbound.map((r) => [r.metric, Number(r.value[1])])).toEqual([
      [{ destination_workload: 'reviews-v1', destination_workload_namespace: 'bookinfo' }, all],
    ]);

    for (const reporter of ['source', 'destination']) {
      const sel = `reporter="${reporter}",destination_workload="reviews-v1"`;
      expect(await valueOf(`sum(istio_requests_total{${sel},response_code=~"5.."})`)).toBe(
        PLAIN['/fail'] + MTLS['/fail'],
      );
      expect(await valueOf(`sum(istio_requests_total{${sel},response_code=~"4.."})`)).toBe(
        PLAIN['/missing'],
      );
      // Request duration: the slow ones (201) took 600 ms and some, so their quantiles sit in the
      // (500, 1000] bucket; everything else was faster than 5 s.
      const p99 = await valueOf(
        `histogram_quantile(0.99, sum(istio_request_duration_milliseconds_bucket{${sel},response_code="201"}) by (le))`,
      );
      expect(p99).toBeGreaterThan(500);
      expect(p99).toBeLessThanOrEqual(1000);
      expect(
        await valueOf(`sum(istio_request_duration_milliseconds_bucket{${sel},le="5000"})`),
      ).toBe(all);
      expect(await valueOf(`sum(istio_request_bytes_count{${sel}})`)).toBe(all);
      // Each response carries a 100-byte body plus its headers on the wire.
      expect(await valueOf(`sum(istio_response_bytes_sum{${sel}})`)).toBeGreaterThan(100 * all);
    }

    // Mesh / Service dashboards: mutual TLS on the server side, SPIFFE principals.
    expect(
      await valueOf(
        'sum(istio_requests_total{reporter="destination",connection_security_policy="mutual_tls"})',
      ),
    ).toBe(total(MTLS));
    expect(
      await valueOf(
        'sum(istio_requests_total{reporter="destination",connection_security_policy="none"})',
      ),
    ).toBe(total(PLAIN));
    expect(
      await valueOf(
        'sum(istio_requests_total{reporter="source",connection_security_policy="unknown"})',
      ),
    ).toBe(all);
    for (const reporter of ['source', 'destination']) {
      const principals = await query(
        `sum(istio_requests_total{reporter="${reporter}",destination_principal=~"spiffe.*"}) by (source_principal, destination_principal)`,
      );
      expect(principals.map((r) => [r.metric, Number(r.value[1])])).toEqual([
        [
          { source_principal: PRODUCTPAGE_SPIFFE, destination_principal: REVIEWS_SPIFFE },
          total(MTLS),
        ],
      ]);
    }
    // Service dashboard: by destination service, as the cluster metadata (outbound) and the Host
    // header (inbound) name it.
    const services = await query(
      'sum(istio_requests_total{reporter="source"}) by (destination_service, destination_service_name, destination_service_namespace)',
    );
    expect(services.map((r) => r.metric)).toEqual([
      {
        destination_service: 'reviews.bookinfo.svc.cluster.local',
        destination_service_name: 'reviews',
        destination_service_namespace: 'bookinfo',
      },
    ]);
    // Workload level: Istio's 25 labels and Prometheus' job and instance, no pod.
    const allowed = new Set([...ISTIO_LABELS, '__name__', 'job', 'instance']);
    for (const series of await query('istio_requests_total')) {
      for (const name of Object.keys(series.metric)) expect(allowed.has(name as never)).toBe(true);
    }
  }, 180_000);
});
