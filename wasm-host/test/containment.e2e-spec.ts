import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { StreamSink } from '../src';
import { stopAllProcesses } from '../../test/support/child-process';
import { waitFor } from '../../test/support/wait-for';
import { hostilePlugin } from './support/hostile-plugin';
import { hostTracker, messages } from './support/hosts';
import { startSidecarCli } from './support/sidecar-cli';
import { buildPlugin } from './support/wat';

const hosts = hostTracker();
afterEach(() => hosts.closeAll());

let wasm: Uint8Array;
let wasmPath: string;
let upstream: Server;
let upstreamUrl: string;
beforeAll(async () => {
  wasm = await hostilePlugin();
  const dir = join(__dirname, 'fixtures', 'build');
  mkdirSync(dir, { recursive: true });
  wasmPath = join(dir, 'hostile-plugin.wasm');
  writeFileSync(wasmPath, wasm);
  upstream = createServer((_req, res) => res.end('ok'));
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await stopAllProcesses();
  upstream.closeAllConnections();
  await new Promise((r) => upstream.close(r));
});

const get = (url: string, mode = 'n') =>
  fetch(url, { headers: { 'x-mode': mode }, signal: AbortSignal.timeout(30_000) });

describe('containment in the library', () => {
  it('caps Wasm memory: growing past maxMemoryBytes fails, the trap fails only that VM', async () => {
    const host = await hosts.start({ wasm, concurrency: 2, maxMemoryBytes: 4 << 20 });
    const hostile = await host.runStream(
      { method: 'GET', path: '/', headers: [['x-mode', 'm']] },
      { status: 200 },
      { vm: 0 },
    );
    expect(hostile.status).toBe(503);
    expect(host.isFailed(0)).toBe(true);
    expect(host.memoryBytes(0)).toBeLessThanOrEqual(4 << 20);
    expect(
      host.hostLogs.some((l) => l.message.includes('wasm trap in proxy_on_request_headers')),
    ).toBe(true);
    const other = await host.runStream({ method: 'GET', path: '/' }, { status: 200 }, { vm: 1 });
    expect(other.status).toBe(200);
  });

  it('refuses a module whose declared memory is already above the cap', async () => {
    const big = await buildPlugin({ body: '' });
    await expect(hosts.start({ wasm: big, maxMemoryBytes: 65536 })).rejects.toThrow(
      /asks for 131072 bytes of memory, more than the limit of 65536/,
    );
  });

  it('ends a paused stream when the client goes away: on_done, on_log, on_delete run', async () => {
    const host = await hosts.start({ wasm, concurrency: 1 });
    const calls: string[] = [];
    const sink: StreamSink = {
      upstreamHeaders: () => void calls.push('upstream'),
      upstreamData: () => undefined,
      upstreamTrailers: () => undefined,
      upstreamCancel: () => void calls.push('cancel'),
      downstreamHeaders: () => void calls.push('downstream'),
      downstreamData: () => undefined,
      downstreamTrailers: () => undefined,
      downstreamReset: () => undefined,
    };
    const stream = host.openStream(sink);
    stream.requestHeaders(
      [
        [':method', 'GET'],
        [':path', '/'],
        [':authority', 'a'],
        ['x-mode', 'p'],
      ],
      true,
    );
    await new Promise((r) => setImmediate(r));
    expect(messages(host)).toEqual([]);
    stream.downstreamClosed();
    const end = await stream.done;
    expect(end.reset).toBe(true);
    expect(messages(host)).toEqual(['done 2', 'log 2', 'delete 2']);
    expect(calls).toEqual(['cancel']);
  });

  it('handles CR LF in a plugin-set header by the fail strategy: 503 closed, dropped open', async () => {
    const closed = await hosts.start({ wasm, concurrency: 1 });
    const r1 = await closed.runStream(
      { method: 'GET', path: '/', headers: [['x-mode', 'h']] },
      { status: 200, body: 'ok' },
    );
    expect(r1.status).toBe(503);
    expect(r1.headers.some(([k]) => k === 'set-cookie' || k === 'x-bad')).toBe(false);
    const open = await hosts.start({ wasm, concurrency: 1, failStrategy: 'FAIL_OPEN' });
    const r2 = await open.runStream(
      { method: 'GET', path: '/', headers: [['x-mode', 'h']] },
      { status: 200, body: 'ok' },
    );
    expect(r2.status).toBe(200);
    expect(r2.headers.some(([k]) => k === 'x-bad')).toBe(false);
    expect(r2.body.toString()).toBe('ok');
  });

  it('bounds a body the plugin grows: it stops at the buffer limit', async () => {
    const host = await hosts.start({ wasm, concurrency: 1, bufferLimitBytes: 1 << 20 });
    const r = await host.runStream(
      { method: 'GET', path: '/', headers: [['x-mode', 'b']] },
      { status: 200, body: 'four' },
    );
    expect(r.status).toBe(200);
    expect(r.body.length).toBeLessThanOrEqual(1 << 20);
    expect(r.body.length).toBeGreaterThan(4);
  });
});

describe('containment in the sidecar (a worker thread per VM)', () => {
  it('a plugin looping forever on one VM: the other VM and the admin port keep serving, the watchdog fails the VM', async () => {
    const { proc, url, admin } = await startSidecarCli([
      '--wasm',
      wasmPath,
      '--upstream',
      upstreamUrl,
      '--concurrency',
      '2',
      '--watchdog-ms',
      '5000',
    ]);
    try {
      const order: string[] = [];
      // Round-robin: the first request goes to VM 0, which loops.
      const stuck = get(url, 'l').then(async (r) => {
        order.push('stuck answered');
        return r;
      });
      await waitFor('VM 0 to be in the loop', () =>
        proc.lines.some((l) => l.endsWith('wasm log: looping')),
      );
      expect((await fetch(`${admin}/ready`)).status).toBe(200);
      const served = await get(url); // VM 1
      expect(served.status).toBe(200);
      order.push('other VM served');
      expect((await fetch(`${admin}/stats`)).status).toBe(200);
      order.push('admin served');
      const res = await stuck;
      expect(res.status).toBe(503);
      expect(order).toEqual(['other VM served', 'admin served', 'stuck answered']);
      expect(
        proc.lines.some((l) =>
          /VM 0 failed: a callback ran longer than the watchdog's 5000 ms/.test(l),
        ),
      ).toBe(true);
      // VM 0 stays failed (fail closed); VM 1 keeps serving.
      const statuses = [];
      for (let i = 0; i < 4; i++) statuses.push((await get(url)).status);
      expect(statuses.sort()).toEqual([200, 200, 503, 503]);
    } finally {
      const exit = await proc.stop('SIGTERM');
      expect(exit.code).toBe(0);
    }
  });

  it('exits on SIGTERM while a VM is stuck and no watchdog is set', async () => {
    const { proc, url } = await startSidecarCli([
      '--wasm',
      wasmPath,
      '--upstream',
      upstreamUrl,
      '--concurrency',
      '1',
      '--watchdog-ms',
      '0',
    ]);
    const stuck = get(url, 'l').catch(() => undefined);
    await waitFor('the VM to be in the loop', () =>
      proc.lines.some((l) => l.endsWith('wasm log: looping')),
    );
    const started = Date.now();
    const exit = await proc.stop('SIGTERM');
    expect(exit.code).toBe(0);
    expect(Date.now() - started).toBeLessThan(9_000);
    await stuck;
  });

  it('ends abandoned paused streams (on_delete runs for each) and times out idle ones with 408', async () => {
    const { proc, url } = await startSidecarCli([
      '--wasm',
      wasmPath,
      '--upstream',
      upstreamUrl,
      '--concurrency',
      '2',
      '--stream-idle-timeout-ms',
      '1000',
    ]);
    try {
      const { hostname, port } = new URL(url);
      const abandoned = 50;
      for (let i = 0; i < abandoned; i++) {
        const req = request({ hostname, port, path: '/', headers: { 'x-mode': 'p' } });
        req.on('error', () => undefined);
        req.end();
        setTimeout(() => req.destroy(), 50);
      }
      await waitFor(
        'every abandoned stream deleted',
        () => proc.lines.filter((l) => / wasm log: delete \d+$/.test(l)).length >= abandoned,
        { timeoutMs: 30_000 },
      );
      const idle = await get(url, 'p');
      expect(idle.status).toBe(408);
      await waitFor(
        'the idle stream deleted',
        () => proc.lines.filter((l) => / wasm log: delete \d+$/.test(l)).length === abandoned + 1,
      );
    } finally {
      await proc.stop();
    }
  });

  it('caps memory, bounds body bloat and fails closed on CR LF through the sidecar', async () => {
    const { proc, url } = await startSidecarCli([
      '--wasm',
      wasmPath,
      '--upstream',
      upstreamUrl,
      '--concurrency',
      '2',
      '--max-memory-bytes',
      '4194304',
    ]);
    try {
      const bloat = await get(url, 'b');
      expect(bloat.status).toBe(200);
      const body = await bloat.arrayBuffer();
      expect(body.byteLength).toBeLessThanOrEqual(1 << 20);
      expect(bloat.headers.get('content-length')).toBe(String(body.byteLength));
      const crlf = await get(url, 'h');
      expect(crlf.status).toBe(503);
      expect(crlf.headers.get('set-cookie')).toBeNull();
      // VM 0 (third request) grows its memory to the cap and traps: failed; VM 1 keeps serving.
      expect((await get(url, 'm')).status).toBe(503);
      expect((await get(url)).status).toBe(200);
      expect(proc.lines.some((l) => /wasm trap in proxy_on_request_headers/.test(l))).toBe(true);
    } finally {
      await proc.stop();
    }
  });
});
