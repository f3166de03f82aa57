import type { ProxyWasmHost, StreamProperties } from '../../../wasm-host/src';
import { stopAllProcesses } from '../../../test/support/child-process';
import { startMesha, type MeshaProcess } from '../../../test/support/mesha';
import { scrape, sumSamples, type Sample } from '../../../test/support/prometheus-text';
import { ISTIO_LABELS } from '../../../src/istio/report-v2.types';
import {
  entriesOf,
  PRODUCTPAGE,
  PRODUCTPAGE_SPIFFE,
  REVIEWS,
  REVIEWS_CLUSTER,
  REVIEWS_CLUSTER_METADATA,
  REVIEWS_SPIFFE,
} from './istio-support';
import { SEED_CLUSTER, header, reporterHosts } from './support';

const STATUSES = [200, 200, 404, 503, 200];
const DURATIONS_MS = [3, 30, 300, 7];

// The istio mode end to end in one process: the built reporter in the proxy-wasm host, on an
// outbound listener of two productpage-v1 pods and an inbound listener of reviews-v1, reports to a
// real mesha, whose /metrics must carry Istio's families with exactly what was sent.
describe('reporter, istio mode -> mesha istio_* families', () => {
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

  async function drive(host: ProxyWasmHost, i: number, properties: StreamProperties) {
    const status = STATUSES[i % STATUSES.length];
    const result = await host.runStream(
      { method: 'GET', path: `/reviews/${i}`, authority: 'reviews:9080' },
      async () => {
        clockNs += BigInt(DURATIONS_MS[i % DURATIONS_MS.length]) * 1_000_000n;
        return { status, body: 'r'.repeat(i % 11) };
      },
      { properties },
    );
    expect(result.status).toBe(status);
  }

  it('two productpage pods (source) and reviews (destination, mTLS): exact counts, workload level', async () => {
    const common = {
      pluginConfig: JSON.stringify({ mode: 'istio', tick_ms: 1000 }),
      clusters: { [SEED_CLUSTER]: mesha.url },
      now: () => clockNs,
    };
    const pods = await Promise.all(
      ['productpage-v1-6b746f74dc-9stvs', 'productpage-v1-6b746f74dc-x2q8p'].map((name) =>
        hosts.start({
          ...common,
          concurrency: 2,
          listenerDirection: 'outbound',
          nodeMetadataStruct: { ...PRODUCTPAGE, NAME: name },
          clusterName: REVIEWS_CLUSTER,
          clusterMetadata: REVIEWS_CLUSTER_METADATA,
        }),
      ),
    );
    const reviews = await hosts.start({
      ...common,
      concurrency: 1,
      listenerDirection: 'inbound',
      nodeMetadataStruct: REVIEWS,
    });

    const perPod = 40;
    const expectedByCode = new Map<string, number>();
    for (const pod of pods) {
      for (let i = 0; i < perPod; i++) {
        await drive(pod, i, {
          upstreamPeer: { metadata: REVIEWS },
          upstreamUriSanLocalCertificate: PRODUCTPAGE_SPIFFE,
          upstreamUriSanPeerCertificate: REVIEWS_SPIFFE,
        });
        const code = String(STATUSES[i % STATUSES.length]);
        expectedByCode.set(code, (expectedByCode.get(code) ?? 0) + 1);
      }
    }
    const inbound = 30;
    for (let i = 0; i < inbound; i++) {
      await drive(reviews, i, {
        downstreamPeer: { metadata: PRODUCTPAGE },
        mtls: true,
        uriSanPeerCertificate: PRODUCTPAGE_SPIFFE,
        uriSanLocalCertificate: REVIEWS_SPIFFE,
      });
    }
    for (const h of [...pods, reviews]) {
      await h.tick();
      await h.settle();
    }

    // What the reporters sent: one v2 report per VM, 2xx-answered, tagged with the reporter id.
    const calls = [...pods, reviews].flatMap((h) => h.httpCalls);
    expect(calls).toHaveLength(5);
    for (const call of calls) {
      expect(call.response?.status).toBe(200);
      expect(header(call, 'content-type')).toBe('application/json');
    }
    const entries = entriesOf(calls);
    expect(entries.reduce((t, e) => t + e.n, 0)).toBe(2 * perPod + inbound);

    const samples = await scrape(mesha.url);
    const requests = samples.filter((s) => s.name === 'istio_requests_total');
    for (const s of requests)
      expect(Object.keys(s.labels).sort()).toEqual([...ISTIO_LABELS].sort());
    // Workload level: no pod anywhere in Istio's families; the two pods' reports add up.
    const istio = samples.filter((s) => s.name.startsWith('istio_'));
    expect(istio.some((s) => Object.values(s.labels).some((v) => v.includes('9stvs')))).toBe(false);
    const source = { reporter: 'source', source_workload: 'productpage-v1' };
    for (const [code, n] of expectedByCode) {
      const series = requests.filter(
        (s) => s.labels.reporter === 'source' && s.labels.response_code === code,
      );
      expect(series).toHaveLength(1);
      expect(series[0].value).toBe(n);
      expect(series[0].labels).toMatchObject({
        ...source,
        source_workload_namespace: 'bookinfo',
        source_principal: PRODUCTPAGE_SPIFFE,
        destination_workload: 'reviews-v1',
        destination_workload_namespace: 'bookinfo',
        destination_principal: REVIEWS_SPIFFE,
        destination_service: 'reviews.bookinfo.svc.cluster.local',
        destination_service_name: 'reviews',
        destination_service_namespace: 'bookinfo',
        destination_canonical_service: 'reviews',
        destination_canonical_revision: 'v1',
        request_protocol: 'http',
        response_flags: '-',
        connection_security_policy: 'unknown',
      });
    }
    const destination = { reporter: 'destination', connection_security_policy: 'mutual_tls' };
    expect(sumSamples(samples, 'istio_requests_total', destination)).toBe(inbound);
    expect(
      sumSamples(samples, 'istio_requests_total', { ...destination, response_code: '503' }),
    ).toBe(inbound / STATUSES.length);

    // Durations in Envoy's ms buckets, cumulative: 3 ms and 7 ms are <= 10, 30 <= 50, 300 <= 500.
    const bucket = (le: string, labels: Record<string, string>) =>
      sumSamples(samples, 'istio_request_duration_milliseconds_bucket', { ...labels, le });
    const all = 2 * perPod;
    expect(bucket('1', source)).toBe(0);
    expect(bucket('10', source)).toBe(all / 2);
    expect(bucket('50', source)).toBe((all * 3) / 4);
    expect(bucket('500', source)).toBe(all);
    expect(bucket('+Inf', source)).toBe(all);
    const durationSum = sumSamples(samples, 'istio_request_duration_milliseconds_sum', source);
    expect(durationSum).toBeCloseTo((all / 4) * (3 + 30 + 300 + 7), 6);
    // Sizes: what the reports said, added over pods.
    const sent = (pick: (e: (typeof entries)[number]) => number, reporter: string) =>
      entries.filter((e) => e.dims.reporter === reporter).reduce((t, e) => t + pick(e), 0);
    for (const reporter of ['source', 'destination']) {
      expect(sumSamples(samples, 'istio_response_bytes_sum', { reporter })).toBe(
        sent((e) => e.responseBytesSum, reporter),
      );
      expect(sumSamples(samples, 'istio_request_bytes_count', { reporter })).toBe(
        sent((e) => e.n, reporter),
      );
    }
    expect(sent((e) => e.responseBytesSum, 'source')).toBeGreaterThan(all * 20);

    // A re-sent report (same id and seq) is acknowledged and not counted again.
    const again = await fetch(`${mesha.url}/wasmCallback`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', melonMsg: 'resend' },
      body: calls[0].body,
    });
    expect(again.status).toBe(200);
    const after = await scrape(mesha.url);
    expect(sumSamples(after, 'istio_requests_total')).toBe(2 * perPod + inbound);
    expect(sumSamples(after, 'mesha_duplicate_reports_total')).toBe(1);
  });

  it('a bad v2 report gets a 400 naming the field and changes nothing', async () => {
    const before: Sample[] = await scrape(mesha.url);
    const report = {
      v: 2,
      reporter: { id: 'aaaaaaaaaaaaaaaa', seq: 1 },
      source: { workload: 'w', namespace: 'n', pod: 'p' },
      window: { start_ms: 1, end_ms: 2 },
      buckets: [
        0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000,
        1800000, 3600000,
      ],
      strings: ['a'],
      http: [
        {
          d: new Array<number>(25).fill(0).map((_, i) => (i === 3 ? 1 : 0)),
          n: 1,
          duration_ms: [1, ...new Array<number>(19).fill(0)],
          duration_sum_ms: 0.1,
          request_bytes: [1, ...new Array<number>(19).fill(0)],
          request_bytes_sum: 0,
          response_bytes: [1, ...new Array<number>(19).fill(0)],
          response_bytes_sum: 0,
        },
      ],
    };
    const res = await fetch(`${mesha.url}/wasmCallback`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', melonMsg: 'bad' },
      body: JSON.stringify(report),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { message: string }).message).toContain('/http/0/d/3');
    const after = await scrape(mesha.url);
    expect(sumSamples(after, 'istio_requests_total')).toBe(
      sumSamples(before, 'istio_requests_total'),
    );
  });
});
