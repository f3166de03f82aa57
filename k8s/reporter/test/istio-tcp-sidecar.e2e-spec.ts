import { connect, createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { stopAllProcesses } from '../../../test/support/child-process';
import { startMesha, type MeshaProcess } from '../../../test/support/mesha';
import { scrape, sumSamples } from '../../../test/support/prometheus-text';
import { waitFor } from '../../../test/support/wait-for';
import { ISTIO_TCP_LABELS } from '../../../src/istio/report-v2.types';
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

/** Bytes the client sends on each connection; the echo server sends them back. */
const SIZES = [1000, 2500, 17];
const TOTAL = SIZES.reduce((a, b) => a + b, 0);

// The built reporter in istio mode as a network filter: client -> outbound sidecar (productpage-v1,
// --tcp) -> inbound sidecar (reviews-v1, --tcp, --mtls) -> a TCP echo server, both sidecars
// reporting to a real mesha, whose /metrics must show exactly the connections and bytes sent.
describe('sidecars in --tcp mode, istio mode reporter -> mesha istio_tcp_*', () => {
  let mesha: MeshaProcess;
  let echo: Server;
  let echoPort: number;

  beforeAll(async () => {
    mesha = await startMesha();
    echo = createServer((socket) => socket.pipe(socket));
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    echoPort = (echo.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await mesha?.stop();
    await stopAllProcesses();
    await new Promise<void>((resolve) => (echo ? echo.close(() => resolve()) : resolve()));
  });

  /** One connection through `port`: sends `n` bytes, reads the echo of all of them, then ends. */
  function roundTrip(port: number, n: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1');
      let got = 0;
      socket.on('error', reject);
      socket.on('data', (chunk: Buffer) => {
        got += chunk.length;
        if (got >= n) socket.end();
      });
      socket.on('close', () => resolve(got));
      socket.write(Buffer.alloc(n, 0x78));
    });
  }

  it('counts each connection once per reporter and exactly the bytes each way, long ones per tick', async () => {
    const common = [
      '--tcp',
      '--wasm',
      WASM_PATH,
      '--config',
      JSON.stringify({ mode: 'istio', tick_ms: 1000 }),
      '--cluster',
      `${SEED_CLUSTER}=${mesha.url}`,
      '--mtls',
    ];
    const reviews = await startSidecarCli([
      ...common,
      '--upstream',
      `127.0.0.1:${echoPort}`,
      '--listener-direction',
      'inbound',
      '--node-metadata-json',
      JSON.stringify(REVIEWS),
      '--peer-metadata-json',
      JSON.stringify(PRODUCTPAGE),
    ]);
    const productpage = await startSidecarCli([
      ...common,
      '--upstream',
      reviews.url,
      '--listener-direction',
      'outbound',
      '--node-metadata-json',
      JSON.stringify(PRODUCTPAGE),
      '--peer-metadata-json',
      JSON.stringify(REVIEWS),
      '--cluster-name',
      REVIEWS_CLUSTER,
      '--cluster-metadata-json',
      JSON.stringify(REVIEWS_CLUSTER_METADATA),
    ]);
    const port = Number(new URL(productpage.url).port);
    for (const n of SIZES) expect(await roundTrip(port, n)).toBe(n);

    const closed = (reporter: string) => async () => {
      const s = await scrape(mesha.url);
      const done =
        sumSamples(s, 'istio_tcp_connections_closed_total', { reporter }) === SIZES.length &&
        sumSamples(s, 'istio_tcp_sent_bytes_total', { reporter }) === TOTAL;
      return done && s;
    };
    await waitFor('the source reports in mesha', closed('source'), { timeoutMs: 30_000 });
    const samples = await waitFor('the destination reports in mesha', closed('destination'), {
      timeoutMs: 30_000,
    });

    const identity = {
      source_workload: 'productpage-v1',
      source_workload_namespace: 'bookinfo',
      source_principal: PRODUCTPAGE_SPIFFE,
      source_canonical_service: 'productpage',
      destination_workload: 'reviews-v1',
      destination_workload_namespace: 'bookinfo',
      destination_principal: REVIEWS_SPIFFE,
      destination_canonical_service: 'reviews',
      request_protocol: 'tcp',
      response_flags: '-',
    };
    for (const [reporter, policy, service] of [
      ['source', 'unknown', 'reviews.bookinfo.svc.cluster.local'],
      ['destination', 'mutual_tls', 'reviews'],
    ]) {
      for (const name of [
        'istio_tcp_connections_opened_total',
        'istio_tcp_connections_closed_total',
        'istio_tcp_received_bytes_total',
        'istio_tcp_sent_bytes_total',
      ]) {
        const series = samples.filter((s) => s.name === name && s.labels.reporter === reporter);
        // One series per family and reporter: one dimension set, workload level.
        expect(series).toHaveLength(1);
        expect(Object.keys(series[0].labels).sort()).toEqual([...ISTIO_TCP_LABELS].sort());
        expect(series[0].labels).toMatchObject({
          ...identity,
          reporter,
          connection_security_policy: policy,
          destination_service: service,
        });
      }
      const where = { reporter };
      expect(sumSamples(samples, 'istio_tcp_connections_opened_total', where)).toBe(SIZES.length);
      expect(sumSamples(samples, 'istio_tcp_connections_closed_total', where)).toBe(SIZES.length);
      // Echoed: the client -> server bytes (received) equal the server -> client bytes (sent).
      expect(sumSamples(samples, 'istio_tcp_received_bytes_total', where)).toBe(TOTAL);
      expect(sumSamples(samples, 'istio_tcp_sent_bytes_total', where)).toBe(TOTAL);
    }
    expect(sumSamples(samples, 'istio_requests_total')).toBe(0);

    // A long connection is reported while it lasts (each tick with news), closed once at its end.
    const long = connect(port, '127.0.0.1');
    let echoed = 0;
    long.on('data', (chunk: Buffer) => (echoed += chunk.length));
    const closedLong = new Promise((resolve) => long.on('close', resolve));
    long.write(Buffer.alloc(300, 0x79));
    const counts = async (reporter: string) => {
      const s = await scrape(mesha.url);
      return [
        sumSamples(s, 'istio_tcp_connections_opened_total', { reporter }),
        sumSamples(s, 'istio_tcp_connections_closed_total', { reporter }),
        sumSamples(s, 'istio_tcp_received_bytes_total', { reporter }),
        sumSamples(s, 'istio_tcp_sent_bytes_total', { reporter }),
      ].join(' ');
    };
    const n = SIZES.length;
    for (const reporter of ['source', 'destination']) {
      const open = `${n + 1} ${n} ${TOTAL + 300} ${TOTAL + 300}`;
      await waitFor(
        `the open connection in mesha (${reporter})`,
        async () => ((await counts(reporter)) === open ? true : undefined),
        { timeoutMs: 30_000 },
      );
    }
    long.write(Buffer.alloc(200, 0x7a));
    await waitFor('the rest echoed', () => echoed === 500);
    long.end();
    await closedLong;
    for (const reporter of ['source', 'destination']) {
      const done = `${n + 1} ${n + 1} ${TOTAL + 500} ${TOTAL + 500}`;
      await waitFor(
        `the closed connection in mesha (${reporter})`,
        async () => ((await counts(reporter)) === done ? true : undefined),
        { timeoutMs: 30_000 },
      );
    }
  });
});
