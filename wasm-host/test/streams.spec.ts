import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ForwardedRequest } from '../src';
import { hostTracker, messages } from './support/hosts';
import { AUTH_CLUSTER, streamPlugin } from './support/stream-plugin';

const hosts = hostTracker();
afterEach(() => hosts.closeAll());

let wasm: Uint8Array;
let auth: Server;
let authUrl: string;
let authAnswer = 'ok';
beforeAll(async () => {
  wasm = await streamPlugin();
  auth = createServer((_req, res) => res.end(authAnswer));
  await new Promise<void>((resolve) => auth.listen(0, '127.0.0.1', resolve));
  authUrl = `http://127.0.0.1:${(auth.address() as AddressInfo).port}`;
});
afterAll(async () => {
  auth.closeAllConnections();
  await new Promise((resolve) => auth.close(resolve));
});

const upstreamOk = {
  status: 200,
  headers: [
    ['x-secret', 's'],
    ['content-type', 'text/plain'],
    ['x-secret', 't'],
  ] as Array<[string, string]>,
  body: 'hello',
};

describe('HTTP streams', () => {
  it('runs the callbacks in Envoy order and applies header and body changes', async () => {
    const host = await hosts.start({ wasm, concurrency: 1 });
    let forwarded: ForwardedRequest | undefined;
    const result = await host.runStream(
      { method: 'GET', path: '/a?b=1', authority: 'svc', headers: [['X-Mode', 'n']] },
      async (req) => {
        forwarded = req;
        return upstreamOk;
      },
    );
    expect(forwarded?.headers).toEqual([
      [':method', 'GET'],
      [':path', '/a?b=1'],
      [':authority', 'svc'],
      [':scheme', 'http'],
      ['x-mode', 'n'],
      ['x-added', 'yes'],
    ]);
    expect(result.status).toBe(200);
    expect(result.localReply).toBe(false);
    // content-length arrives with the body (5) and is re-framed after the plugin appended "!".
    expect(result.headers).toEqual([
      ['content-type', 'text/plain'],
      ['content-length', '6'],
      ['x-plugin', 'wat'],
    ]);
    expect(result.body.toString()).toBe('hello!');
    expect(messages(host)).toEqual([
      'create 2',
      'u32=200',
      'done 2',
      'log 2',
      '/a?b=1',
      'delete 2',
    ]);
    // Context ids keep counting up per VM.
    await host.runStream({ method: 'GET', path: '/' }, upstreamOk);
    expect(messages(host)).toContain('create 3');
  });

  it('lets the plugin replace the request body', async () => {
    const host = await hosts.start({ wasm, concurrency: 1 });
    const result = await host.runStream(
      { method: 'POST', path: '/', headers: [['x-mode', 'b']], body: 'original body' },
      async (req) => ({ status: 200, body: req.body }),
    );
    expect(result.forwarded?.body.toString()).toBe('REPLACED');
    expect(result.body.toString()).toBe('REPLACED!');
  });

  it('answers locally without calling the upstream; the local reply still passes the response callbacks', async () => {
    const host = await hosts.start({ wasm, concurrency: 1 });
    const upstream = jest.fn(async () => upstreamOk);
    const result = await host.runStream(
      { method: 'GET', path: '/', headers: [['x-mode', 'l']] },
      upstream,
    );
    expect(upstream).not.toHaveBeenCalled();
    expect(result.status).toBe(403);
    expect(result.localReply).toBe(true);
    expect(result.body.toString()).toBe('no entry!');
    expect(result.headers).toContainEqual(['x-why', 'test']);
    expect(result.headers).toContainEqual(['x-plugin', 'wat']);
    expect(messages(host)).toContain('u32=403');
  });

  it('pauses on request headers until the http call answer continues the stream', async () => {
    const host = await hosts.start({ wasm, concurrency: 1, clusters: { [AUTH_CLUSTER]: authUrl } });
    authAnswer = 'ok';
    const allowed = await host.runStream(
      { method: 'GET', path: '/', headers: [['x-mode', 'p']] },
      upstreamOk,
    );
    expect(allowed.status).toBe(200);
    expect(host.httpCalls).toHaveLength(1);
    authAnswer = 'nope';
    const denied = await host.runStream(
      { method: 'GET', path: '/', headers: [['x-mode', 'p']] },
      upstreamOk,
    );
    expect(denied.status).toBe(401);
    expect(denied.localReply).toBe(true);
  });

  it('resets the stream on proxy_close_stream', async () => {
    const host = await hosts.start({ wasm, concurrency: 1 });
    const result = await host.runStream(
      { method: 'GET', path: '/', headers: [['x-mode', 'c']] },
      upstreamOk,
    );
    expect(result.reset).toBe(true);
    expect(result.status).toBe(0);
  });

  it('answers 503 when the upstream cannot be reached', async () => {
    const host = await hosts.start({ wasm, concurrency: 1 });
    const result = await host.runStream({ method: 'GET', path: '/' }, async () => {
      throw new Error('ECONNREFUSED');
    });
    expect(result.status).toBe(503);
    expect(result.body.toString()).toMatch(/^upstream connect error/);
  });

  it('fails closed on a trap (503) and keeps failing that VM; other VMs still serve', async () => {
    const host = await hosts.start({ wasm, concurrency: 2 });
    const trapped = await host.runStream(
      { method: 'GET', path: '/', headers: [['x-mode', 't']] },
      upstreamOk,
      { vm: 0 },
    );
    expect(trapped.status).toBe(503);
    expect(trapped.localReply).toBe(true);
    expect(host.hostLogs.some((l) => l.message.includes('proxy_on_request_headers'))).toBe(true);
    const again = await host.runStream({ method: 'GET', path: '/' }, upstreamOk, { vm: 0 });
    expect(again.status).toBe(503);
    const other = await host.runStream({ method: 'GET', path: '/' }, upstreamOk, { vm: 1 });
    expect(other.status).toBe(200);
  });

  it('fails open on a trap when configured: the request passes through untouched', async () => {
    const host = await hosts.start({ wasm, concurrency: 1, failStrategy: 'FAIL_OPEN' });
    const result = await host.runStream(
      { method: 'GET', path: '/', headers: [['x-mode', 't']] },
      upstreamOk,
    );
    expect(result.status).toBe(200);
    expect(result.body.toString()).toBe('hello');
    expect(result.forwarded?.headers).not.toContainEqual(['x-added', 'yes']);
  });

  it('spreads streams over VMs round-robin', async () => {
    const host = await hosts.start({ wasm, concurrency: 2 });
    for (let i = 0; i < 4; i++) await host.runStream({ method: 'GET', path: '/' }, upstreamOk);
    expect(messages(host, 0).filter((m) => m.startsWith('create'))).toEqual([
      'create 2',
      'create 3',
    ]);
    expect(messages(host, 1).filter((m) => m.startsWith('create'))).toEqual([
      'create 2',
      'create 3',
    ]);
  });
});
