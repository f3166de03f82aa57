/**
 * npm run bench:istio — what the istio mode saves in series and costs in report bytes: a simulated mesh of
 * 200 pods in 20 workloads (10 pods each, namespace bookinfo), each pod's sidecar running the built reporter
 * in istio mode in the proxy-wasm host, both listeners (outbound to 3 other workloads, inbound from them),
 * 4 response codes, reporting to a real mesha for BENCH_TICKS ticks. Prints the istio_* series mesha's
 * /metrics holds against the series per-pod scraping of the same traffic exposes (each pod's own label sets,
 * as Envoy's /stats/prometheus shows them: a counter plus three histograms of 20 buckets, _sum and _count),
 * and the report bytes per tick per pod.
 *
 * Env: BENCH_TICKS (3), BENCH_STREAMS_PER_TICK (40, per pod).
 */
import { startMesha } from '../test/support/mesha';
import { stopAllProcesses } from '../test/support/child-process';
import { parsePrometheusText } from '../test/support/prometheus-text';
import { ProxyWasmHost } from '../wasm-host/src';
import { checkReportV2 } from '../src/istio/report-v2-validator';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '..');
const WASM = join(ROOT, 'k8s', 'reporter', 'build', 'filter.wasm');
const CLUSTER = 'outbound|7171||mesha.istio12.svc.cluster.local';
const TICKS = Number(process.env.BENCH_TICKS ?? 3);
const STREAMS = Number(process.env.BENCH_STREAMS_PER_TICK ?? 40);
const WORKLOADS = 20;
const PODS = 10;
const CODES = [200, 200, 200, 404, 503, 201];
/** Series per label set on a sidecar: istio_requests_total + 3 histograms x (20 buckets + _sum + _count). */
const SERIES_PER_SET = 1 + 3 * 22;

const node = (w: number, p: number) => ({
  NAME: `app${w}-v1-${p}`,
  NAMESPACE: 'bookinfo',
  WORKLOAD_NAME: `app${w}-v1`,
  CLUSTER_ID: 'Kubernetes',
  LABELS: {
    app: `app${w}`,
    version: 'v1',
    'service.istio.io/canonical-name': `app${w}`,
    'service.istio.io/canonical-revision': 'v1',
  },
});

async function main(): Promise<void> {
  const mesha = await startMesha({ LOG_LEVEL: 'warn' });
  let clockNs = 1_790_000_000_000n * 1_000_000n;
  const hosts: Array<{ w: number; out: ProxyWasmHost; inb: ProxyWasmHost }> = [];
  try {
    for (let w = 0; w < WORKLOADS; w++) {
      for (let p = 0; p < PODS; p++) {
        const common = {
          wasm: WASM,
          pluginConfig: JSON.stringify({ mode: 'istio', tick_ms: 5000 }),
          concurrency: 1,
          clusters: { [CLUSTER]: mesha.url },
          nodeMetadataStruct: node(w, p),
          now: () => clockNs,
        };
        // One sidecar per pod has both listeners; the host runs them as two plugin instances.
        const out = await ProxyWasmHost.start({ ...common, listenerDirection: 'outbound' });
        const inb = await ProxyWasmHost.start({ ...common, listenerDirection: 'inbound' });
        hosts.push({ w, out, inb });
      }
    }
    const perPodSets = new Map<string, Set<string>>();
    let reportBytes = 0;
    let reports = 0;
    for (let t = 0; t < TICKS; t++) {
      for (const [i, h] of hosts.entries()) {
        for (let s = 0; s < STREAMS; s++) {
          const target = (h.w + 1 + (s % 3)) % WORKLOADS;
          const peer = { metadata: node(target, (i + s) % PODS) };
          const status = CODES[(i + s) % CODES.length];
          const upstream = async () => {
            clockNs += BigInt(1 + ((s * 7) % 40)) * 1_000_000n;
            return { status, body: 'x'.repeat(s % 200) };
          };
          await h.out.runStream(
            { method: 'GET', path: '/', authority: `app${target}:9080` },
            upstream,
            {
              properties: { upstreamPeer: peer },
            },
          );
          const source = (h.w + WORKLOADS - 1 - (s % 3)) % WORKLOADS;
          await h.inb.runStream(
            { method: 'GET', path: '/', authority: `app${h.w}:9080` },
            upstream,
            {
              properties: { downstreamPeer: { metadata: node(source, (i + s) % PODS) } },
            },
          );
        }
      }
      for (const [i, h] of hosts.entries()) {
        for (const host of [h.out, h.inb]) {
          const before = host.httpCalls.length;
          await host.tick();
          await host.settle();
          for (const call of host.httpCalls.slice(before)) {
            reportBytes += call.body.length;
            reports++;
            const checked = checkReportV2(JSON.parse(call.body.toString('utf8')));
            if (!checked.ok) throw new Error(checked.problem);
            const sets = perPodSets.get(String(i)) ?? new Set<string>();
            for (const e of checked.report.http)
              sets.add(e.d.map((d) => checked.report.strings[d]).join('\u0000'));
            perPodSets.set(String(i), sets);
          }
        }
      }
    }
    const body = await (await fetch(`${mesha.url}/metrics`)).text();
    const meshaSeries = parsePrometheusText(body).filter((s) => s.name.startsWith('istio_')).length;
    let perPod = 0;
    for (const sets of perPodSets.values()) perPod += sets.size * SERIES_PER_SET;
    const streams = hosts.length * 2 * STREAMS * TICKS;
    console.log(
      `bench:istio — ${WORKLOADS} workloads x ${PODS} pods, ${streams} streams over ${TICKS} ticks`,
    );
    console.log(
      '(the machine is shared with other work today; these are counts and sizes, not timings)',
    );
    console.log(`istio_* series on mesha's /metrics:             ${meshaSeries}`);
    console.log(
      `istio_* series per-pod scraping would expose:   ${perPod}  (x${(perPod / meshaSeries).toFixed(1)})`,
    );
    console.log(
      `report bytes per tick per pod (both listeners): ${Math.round(reportBytes / TICKS / hosts.length)}`,
    );
    console.log(`reports: ${reports}, mean ${Math.round(reportBytes / reports)} bytes`);
  } finally {
    for (const h of hosts) {
      await h.out.close();
      await h.inb.close();
    }
    await mesha.stop();
    await stopAllProcesses();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
