import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { ProxyWasmHost } from '../../../wasm-host/src';
import { startMesha, type MeshaProcess } from '../../../test/support/mesha';
import { scrape, sumSamples } from '../../../test/support/prometheus-text';
import { stopAllProcesses } from '../../../test/support/child-process';
import { waitFor } from '../../../test/support/wait-for';
import { SEED_CLUSTER, countOf, parseReport, reporterHosts } from './support';

type Mode = 'up' | 'reset' | 'error' | 'blackhole';

/**
 * A stand-in for the network path to mesha that the test can break, listening on one port for the whole
 * test (re-listening on a released port could race with other workers picking free ports): 'up' forwards
 * to mesha, 'reset' destroys every connection as soon as it is accepted (nothing reaches mesha, the plugin
 * sees a connection failure, as with a refused one), 'error' answers 503 itself, 'blackhole' forwards to
 * mesha but never answers (the plugin times out).
 */
class CollectorPath {
  private mode: Mode = 'up';
  port = 0;
  private readonly server: Server;
  private readonly held: ServerResponse[] = [];

  constructor(private readonly target: string) {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.on('connection', (socket: Socket) => {
      if (this.mode === 'reset') socket.destroy();
    });
  }

  setMode(mode: Mode): void {
    this.mode = mode;
    // Kept-alive connections from an earlier mode must not slip past a reset.
    if (mode === 'reset') this.server.closeAllConnections();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (this.mode === 'reset') {
      res.destroy();
      return;
    }
    if (this.mode === 'error') {
      res.writeHead(503).end('collector unavailable');
      return;
    }
    const headers: Record<string, string> = {};
    for (const name of ['content-type', 'melonmsg', 'x-mesha-reporter']) {
      const v = req.headers[name];
      if (typeof v === 'string') headers[name] = v;
    }
    const mode = this.mode;
    const answer = await fetch(this.target + (req.url ?? '/'), {
      method: req.method,
      headers,
      body: Buffer.concat(chunks),
    });
    const text = await answer.text();
    if (mode === 'blackhole') {
      this.held.push(res);
      return;
    }
    res.writeHead(answer.status, { 'content-type': 'text/plain' }).end(text);
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.port = (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    if (!this.server.listening) return;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    for (const res of this.held.splice(0)) res.destroy();
    await closed;
  }
}

describe('reporter delivery: failures, retries, bounds', () => {
  let mesha: MeshaProcess;
  const hosts = reporterHosts();
  const paths: CollectorPath[] = [];

  beforeAll(async () => {
    mesha = await startMesha();
  });
  afterEach(async () => {
    await hosts.closeAll();
    await Promise.all(paths.splice(0).map((p) => p.close()));
  });
  afterAll(async () => {
    await mesha?.stop();
    await stopAllProcesses();
  });

  async function streams(host: ProxyWasmHost, n: number, route: string): Promise<void> {
    for (let i = 0; i < n; i++)
      await host.runStream({ method: 'GET', path: `/${route}` }, { status: 200 });
  }

  async function tick(host: ProxyWasmHost): Promise<void> {
    await host.tick(0);
    await host.settle();
  }

  it('collector refused, erroring, then silent, then back: no trap, pending bounded, each report counted once', async () => {
    const path = new CollectorPath(mesha.url);
    paths.push(path);
    await path.listen();
    path.setMode('reset'); // phase A: connections fail
    const host = await hosts.start({
      pluginConfig: JSON.stringify({ mode: 'traffic', max_pending: 3, timeout_ms: 300 }),
      concurrency: 1,
      clusters: { [SEED_CLUSTER]: `http://127.0.0.1:${path.port}` },
      nodeMetadata: { WORKLOAD_NAME: 'delivery-test', NAMESPACE: 'retry' },
    });
    const observed = () =>
      scrape(mesha.url).then((s) =>
        sumSamples(s, 'mesha_observed_requests_total', { source_workload: 'delivery-test' }),
      );

    await streams(host, 5, 'a');
    await tick(host); // seq 1: connection reset
    await streams(host, 6, 'b');
    await tick(host); // seq 2: reset; seq 1 re-sent, reset
    expect(host.metrics(0).get('mesha_reporter_reports_pending')).toBe(2);
    expect(host.httpCalls.map((c) => [c.status, c.response, typeof c.error])).toEqual(
      new Array(3).fill([0, undefined, 'string']),
    );

    path.setMode('error'); // phase B: 503
    await streams(host, 7, 'c');
    await tick(host); // seq 3; 1-3 answered 503
    expect(host.httpCalls.slice(-3).map((c) => c.response?.status)).toEqual([503, 503, 503]);

    path.setMode('blackhole'); // phase C: mesha gets them, the plugin never hears back
    await streams(host, 8, 'd');
    await tick(host); // seq 4 pushes seq 1 out; 2-4 time out
    expect(host.metrics(0).get('mesha_reporter_reports_dropped')).toBe(1);
    expect(host.httpCalls.slice(-3).map((c) => c.error ?? 'answered')).toEqual([
      expect.stringContaining('timeout'),
      expect.stringContaining('timeout'),
      expect.stringContaining('timeout'),
    ]);
    expect(host.metrics(0).get('mesha_reporter_reports_pending')).toBe(3);

    path.setMode('up'); // phase D: back
    await tick(host); // 2-4 re-sent: mesha has them already and must not count them again
    expect(host.metrics(0).get('mesha_reporter_reports_pending')).toBe(0);
    await waitFor('mesha to have seq 2-4 once', async () => (await observed()) === 6 + 7 + 8);
    await streams(host, 9, 'e');
    await tick(host); // seq 5
    expect(await observed()).toBe(6 + 7 + 8 + 9);

    expect(host.isFailed(0)).toBe(false);
    const m = host.metrics(0);
    expect(m.get('mesha_reporter_reports_sent')).toBe(4);
    expect(m.get('mesha_reporter_reports_dropped')).toBe(1);
    expect(m.get('mesha_reporter_reports_failed')).toBe(1 + 2 + 3 + 3);
    expect(m.get('mesha_reporter_requests_observed')).toBe(35);

    // Every attempt of a report carried the same bytes: same id, same seq, same counts.
    const attempts = new Map<number, Set<string>>();
    for (const call of host.httpCalls) {
      const seq = parseReport(call.body).reporter.seq;
      attempts.set(seq, (attempts.get(seq) ?? new Set()).add(call.body.toString('latin1')));
    }
    expect([...attempts.keys()].sort()).toEqual([1, 2, 3, 4, 5]);
    for (const bodies of attempts.values()) expect(bodies.size).toBe(1);
    expect(new Set(host.httpCalls.map((c) => parseReport(c.body).reporter.id)).size).toBe(1);
    const delivered = host.httpCalls.filter((c) => c.response?.status === 200);
    expect(delivered.map((c) => parseReport(c.body).reporter.seq)).toEqual([2, 3, 4, 5]);
    expect(countOf(delivered.map((c) => parseReport(c.body)))).toBe(30);
  });

  it('a refused dispatch (unknown cluster) keeps at most max_pending reports and counts the dropped ones', async () => {
    const host = await hosts.start({
      pluginConfig: JSON.stringify({
        mode: 'traffic',
        cluster: 'outbound|1||nowhere',
        max_pending: 2,
      }),
      concurrency: 1,
    });
    for (let t = 1; t <= 5; t++) {
      await streams(host, t, 'x');
      await host.tick(0);
    }
    // Attempts per tick: 1, 2, then 2, 2, 2 (bounded), all BAD_ARGUMENT.
    expect(host.httpCalls.map((c) => c.status)).toEqual(new Array<number>(9).fill(2));
    const m = host.metrics(0);
    expect(m.get('mesha_reporter_reports_pending')).toBe(2);
    expect(m.get('mesha_reporter_reports_dropped')).toBe(3);
    expect(m.get('mesha_reporter_reports_failed')).toBe(9);
    const lastSeqs = host.httpCalls.slice(-2).map((c) => parseReport(c.body).reporter.seq);
    expect(lastSeqs).toEqual([4, 5]);
    expect(
      host.logs.filter((l) => l.message.startsWith('mesha reporter: reports not delivered')),
    ).toHaveLength(1);
    expect(host.isFailed(0)).toBe(false);
  });
});
