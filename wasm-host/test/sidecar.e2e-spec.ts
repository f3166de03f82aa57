import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { join } from 'node:path';
import { startProcess, stopAllProcesses } from '../../test/support/child-process';
import { REPO, startSidecarCli } from './support/sidecar-cli';
import { waitFor } from '../../test/support/wait-for';
import { streamPlugin } from './support/stream-plugin';

const BUILD = join(__dirname, 'fixtures', 'build');

let upstream: Server;
let upstreamUrl: string;
let wasmPath: string;
const received: Array<{
  url?: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}> = [];

beforeAll(async () => {
  mkdirSync(BUILD, { recursive: true });
  wasmPath = join(BUILD, 'stream-plugin.wasm');
  writeFileSync(wasmPath, await streamPlugin());
  upstream = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString() });
      res.setHeader('x-secret', 'hidden');
      res.setHeader('content-type', 'text/plain');
      res.end(`upstream saw ${req.method} ${req.url}`);
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
});

/** One request over a fresh connection, written byte for byte; resolves with the whole answer. */
function rawRequest(base: string, text: string): Promise<string> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () =>
      socket.write(text.replace('\r\n\r\n', '\r\nconnection: close\r\n\r\n')),
    );
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (data += chunk));
    socket.on('end', () => resolve(data));
    socket.on('error', reject);
  });
}

afterAll(async () => {
  await stopAllProcesses();
  upstream.closeAllConnections();
  await new Promise((r) => upstream.close(r));
});

describe('sidecar CLI', () => {
  it('proxies real HTTP through the plugin, prints Envoy-shaped logs, serves /stats and /ready, stops on SIGTERM', async () => {
    const { proc, url, admin } = await startSidecarCli([
      '--wasm',
      wasmPath,
      '--upstream',
      upstreamUrl,
      '--concurrency',
      '2',
      '--vm-id',
      'vm7',
    ]);
    try {
      const res = await fetch(`${url}/hello?x=1`, { headers: { 'x-mode': 'n' } });
      expect(res.status).toBe(200);
      expect(res.headers.get('x-plugin')).toBe('wat');
      expect(res.headers.get('x-secret')).toBeNull();
      expect(await res.text()).toBe('upstream saw GET /hello?x=1!');
      const seen = received.at(-1)!;
      expect(seen.headers['x-added']).toBe('yes');
      expect(seen.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
      expect(seen.headers.host).toBe(new URL(url).host);

      const posted = await fetch(`${url}/upload`, {
        method: 'POST',
        headers: { 'x-mode': 'b' },
        body: 'abc',
      });
      expect(await posted.text()).toBe('upstream saw POST /upload!');
      expect(received.at(-1)!.body).toBe('REPLACED');

      const denied = await fetch(`${url}/`, { headers: { 'x-mode': 'l' } });
      expect(denied.status).toBe(403);
      expect(denied.headers.get('x-why')).toBe('test');
      expect(await denied.text()).toBe('no entry!');

      await expect(fetch(`${url}/`, { headers: { 'x-mode': 'c' } })).rejects.toThrow();

      await waitFor('plugin logs', () => proc.lines.some((l) => / wasm log vm7: log \d+$/.test(l)));
      expect(
        proc.lines.some((l) => /\[worker [01]\]\[info\]\[wasm\] wasm log vm7: create 2$/.test(l)),
      ).toBe(true);

      const stats = await (await fetch(`${admin}/stats`)).text();
      expect(stats).toMatch(/^wasmcustom\.requests_seen: 4$/m);
      const prom = await (await fetch(`${admin}/stats?format=prometheus`)).text();
      expect(prom).toMatch(/^requests_seen 4$/m);
      expect((await fetch(`${admin}/ready`)).status).toBe(200);
    } finally {
      const exit = await proc.stop('SIGTERM');
      expect(exit.code).toBe(0);
      expect(proc.lines).toContain('sidecar stopped');
    }
  });

  it('spreads requests over the VMs round-robin', async () => {
    const { proc, url } = await startSidecarCli(['--wasm', wasmPath, '--upstream', upstreamUrl]);
    try {
      for (let i = 0; i < 4; i++) await (await fetch(`${url}/`)).text();
      await waitFor(
        'four streams logged',
        () => proc.lines.filter((l) => l.includes('wasm log: delete')).length === 4,
      );
      const workers = proc.lines
        .filter((l) => l.includes('wasm log: create'))
        .map((l) => /\[worker (\d)\]/.exec(l)?.[1]);
      expect(workers.sort()).toEqual(['0', '0', '1', '1']);
    } finally {
      await proc.stop();
    }
  });

  it('works as a plain proxy without --wasm', async () => {
    const { proc, url } = await startSidecarCli(['--upstream', upstreamUrl]);
    try {
      const res = await fetch(`${url}/plain`);
      expect(await res.text()).toBe('upstream saw GET /plain');
    } finally {
      await proc.stop();
    }
  });

  it('answers 400 to a request target that is not a path, and reaches no other host', async () => {
    let otherHits = 0;
    const other = createServer((_req, res) => {
      otherHits++;
      res.end('other host');
    });
    await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
    const otherUrl = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
    const { proc, url } = await startSidecarCli(['--wasm', wasmPath, '--upstream', upstreamUrl]);
    try {
      const before = received.length;
      const answer = await rawRequest(url, `GET ${otherUrl}/x HTTP/1.1\r\nHost: a\r\n\r\n`);
      expect(answer).toMatch(/^HTTP\/1\.1 400 /);
      expect(answer).toContain('bad request target: expected a path starting with "/"');
      const normal = await rawRequest(url, 'GET //x/y HTTP/1.1\r\nHost: a\r\n\r\n');
      expect(normal).toMatch(/^HTTP\/1\.1 200 /);
      expect(normal).toContain('upstream saw GET //x/y!');
      expect(received.length).toBe(before + 1);
      expect(otherHits).toBe(0);
    } finally {
      await proc.stop();
      other.closeAllConnections();
      await new Promise((r) => other.close(r));
    }
  });

  it('answers 504 when the upstream does not answer within --upstream-timeout-ms', async () => {
    let stalled = 0;
    const silent = createServer(() => {
      stalled++; // never answers
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const { proc, url } = await startSidecarCli([
      '--wasm',
      wasmPath,
      '--upstream',
      `http://127.0.0.1:${(silent.address() as AddressInfo).port}`,
      '--upstream-timeout-ms',
      '300',
    ]);
    try {
      const res = await fetch(`${url}/slow`, { signal: AbortSignal.timeout(20_000) });
      expect(res.status).toBe(504);
      // The plugin still sees the answer on the response path, as Envoy's filters see its local reply.
      expect(res.headers.get('x-plugin')).toBe('wat');
      expect(await res.text()).toBe('upstream request timeout!');
      expect(stalled).toBe(1);
    } finally {
      await proc.stop();
      silent.closeAllConnections();
      await new Promise((r) => silent.close(r));
    }
  });

  it.each([
    [['--upstream', 'http://127.0.0.1:1', '--bogus'], "'--bogus'"],
    [['--listen', '127.0.0.1:0'], '--upstream is required'],
    [['--upstream', 'http://127.0.0.1:1', '--concurrency', 'two'], '--concurrency'],
    [['--upstream', 'http://127.0.0.1:1', '--cluster', 'nourl'], '--cluster'],
    [['--upstream', 'http://127.0.0.1:1', '--listen', 'localhost'], '--listen'],
    [['--upstream', 'http://127.0.0.1:1', '--log-level', 'toString'], '--log-level'],
    [
      ['--upstream', 'http://127.0.0.1:1', '--upstream-timeout-ms', 'soon'],
      '--upstream-timeout-ms',
    ],
  ])('rejects bad flags %j with a usage error and exit code 2', async (args, mention) => {
    const proc = startProcess(
      process.execPath,
      ['--import', 'tsx', 'wasm-host/src/cli/sidecar.ts', ...args],
      { cwd: REPO },
    );
    const exit = await proc.exited;
    expect(exit.code).toBe(2);
    expect(proc.output()).toContain(mention);
    expect(proc.output()).toContain('usage: npm run sidecar');
  });

  it('exits 1 with the load error for a plugin that does not load', async () => {
    const bad = join(BUILD, 'not-wasm.wasm');
    writeFileSync(bad, 'nope');
    const proc = startProcess(
      process.execPath,
      [
        '--import',
        'tsx',
        'wasm-host/src/cli/sidecar.ts',
        '--wasm',
        bad,
        '--upstream',
        upstreamUrl,
        '--listen',
        '127.0.0.1:0',
        '--admin',
        '127.0.0.1:0',
      ],
      { cwd: REPO },
    );
    const exit = await proc.exited;
    expect(exit.code).toBe(1);
    expect(proc.output()).toContain('not a valid Wasm module');
  });
});
