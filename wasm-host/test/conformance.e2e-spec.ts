import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ProxyWasmHost } from '../src';
import { stopAllProcesses } from '../../test/support/child-process';
import { waitFor } from '../../test/support/wait-for';
import { buildFixture } from './fixtures/build';
import { startSidecarCli } from './support/sidecar-cli';

// Third-party plugins, built with their own SDKs and compilers, driven through the sidecar with real HTTP.
jest.setTimeout(240_000);

let upstream: Server;
let upstreamUrl: string;
const wasm: Record<'gcore' | 'solo', string> = { gcore: '', solo: '' };

beforeAll(async () => {
  [wasm.gcore, wasm.solo] = await Promise.all([buildFixture('gcore'), buildFixture('solo')]);
  upstream = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      res.setHeader('content-type', 'text/plain');
      const body = Buffer.concat(chunks).toString();
      res.end(`upstream ${req.url}${body ? ` got ${body}` : ''}`);
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await stopAllProcesses();
  upstream?.closeAllConnections();
  await new Promise((r) => upstream?.close(r));
});

// The solo SDK reads an empty configuration wrongly (it passes configuration_size as the size pointer and
// then decodes a stale buffer), in Envoy as here, so its README runs it with a configuration.
describe.each([
  [
    'gcore',
    '@gcoredev/proxy-wasm-sdk-as 1.2.3 (asc 0.28)',
    '0.2.1',
    '[INFO]: gcore plugin saw',
    '',
    'world!',
  ],
  ['solo', '@solo-io/proxy-runtime 0.1.8 (asc 0.17)', '0.2.0', 'solo plugin saw', 'lib', 'lib'],
] as const)('%s example plugin: %s', (sdk, _what, abi, logText, config, header) => {
  it(`loads with ABI ${abi}; with configuration "${config}" it adds "hello: ${header}"`, async () => {
    const host = await ProxyWasmHost.start({
      wasm: wasm[sdk],
      rootId: 'add_header',
      pluginConfig: config,
      concurrency: 1,
    });
    try {
      expect(host.abiVersion).toBe(abi);
      const result = await host.runStream(
        { method: 'GET', path: '/x' },
        { status: 200, body: 'ok' },
      );
      expect(result.headers).toContainEqual(['hello', header]);
      expect(host.hostLogs).toEqual([]);
    } finally {
      await host.close();
    }
  });

  it('through the sidecar: adds the configured header, answers /blocked locally, logs per request', async () => {
    const { proc, url, admin } = await startSidecarCli([
      '--wasm',
      wasm[sdk],
      '--root-id',
      'add_header',
      '--config',
      'configured-value',
      '--upstream',
      upstreamUrl,
    ]);
    try {
      const ok = await fetch(`${url}/hello`);
      expect(ok.status).toBe(200);
      expect(ok.headers.get('hello')).toBe('configured-value');
      expect(await ok.text()).toBe('upstream /hello');

      const blocked = await fetch(`${url}/blocked`);
      expect(blocked.status).toBe(403);
      expect(await blocked.text()).toBe(`blocked by ${sdk} plugin`);

      await waitFor('the plugin log lines', () =>
        proc.lines.some((l) => l.endsWith(`wasm log add_header add_header: ${logText} /blocked`)),
      );
      expect(
        proc.lines.some((l) => l.endsWith(`wasm log add_header add_header: ${logText} /hello`)),
      ).toBe(true);
      if (sdk === 'solo') {
        const stats = await (await fetch(`${admin}/stats`)).text();
        expect(stats).toMatch(/^wasmcustom\.solo_requests_total: 2$/m);
      }
      expect(proc.lines.filter((l) => l.includes('wasm host:'))).toEqual([]);
    } finally {
      await proc.stop();
    }
  });
});

describe('gcore example plugin, streamed body', () => {
  it('buffers a chunked upload with StopIterationAndBuffer and reads it whole at end_of_stream', async () => {
    const { proc, url } = await startSidecarCli([
      '--wasm',
      wasm.gcore,
      '--root-id',
      'add_header',
      '--upstream',
      upstreamUrl,
    ]);
    try {
      const { hostname, port } = new URL(url);
      const answer = await new Promise<string>((resolve, reject) => {
        const req = request({ hostname, port, method: 'POST', path: '/upload' }, (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString()));
          res.on('end', () => resolve(text));
        });
        req.on('error', reject);
        req.write('one,');
        setImmediate(() => {
          req.write('two,');
          setImmediate(() => req.end('three'));
        });
      });
      expect(answer).toBe('upstream /upload got one,two,three');
      // Chunk boundaries depend on TCP; the last call (end_of_stream) sees the accumulated 13 bytes.
      const line = await waitFor('the body log line', () =>
        proc.lines.find((l) =>
          / wasm log add_header add_header: \[INFO\]: gcore body after \d+ calls, 13 bytes: one,two,three$/.test(
            l,
          ),
        ),
      );
      expect(line).toBeDefined();
    } finally {
      await proc.stop();
    }
  });
});
