import { mkdirSync, writeFileSync } from 'node:fs';
import {
  createServer,
  request,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { stopAllProcesses } from '../../test/support/child-process';
import { waitFor } from '../../test/support/wait-for';
import { bodyPlugin } from './support/body-plugin';
import { startSidecarCli } from './support/sidecar-cli';

const BUILD = join(__dirname, 'fixtures', 'build');

let wasmPath: string;
let upstream: Server;
let upstreamUrl: string;
/** Request body bytes the upstream has read so far, and whether the request ended. */
let upstreamGot = '';
let upstreamEnded = false;
let answer: (req: IncomingMessage, res: ServerResponse) => void;

beforeAll(async () => {
  mkdirSync(BUILD, { recursive: true });
  wasmPath = join(BUILD, 'body-plugin.wasm');
  writeFileSync(wasmPath, await bodyPlugin());
  upstream = createServer((req, res) => {
    req.on('data', (c: Buffer) => (upstreamGot += c.toString()));
    req.on('end', () => {
      upstreamEnded = true;
      answer(req, res);
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
});
beforeEach(() => {
  upstreamGot = '';
  upstreamEnded = false;
  answer = (_req, res) => res.end('ok');
});
afterAll(async () => {
  await stopAllProcesses();
  upstream.closeAllConnections();
  await new Promise((r) => upstream.close(r));
});

/** A chunked POST whose body the test writes piece by piece; `response` resolves with status and body. */
function chunkedPost(base: string, mode: string) {
  const { hostname, port } = new URL(base);
  const received: string[] = [];
  let status = 0;
  let headers: IncomingMessage['headers'] = {};
  const req = request({ hostname, port, method: 'POST', path: '/up', headers: { 'x-mode': mode } });
  const response = new Promise<{
    status: number;
    body: string;
    headers: IncomingMessage['headers'];
  }>((resolve, reject) => {
    req.on('response', (res) => {
      status = res.statusCode ?? 0;
      headers = res.headers;
      res.on('data', (c: Buffer) => received.push(c.toString()));
      res.on('end', () => resolve({ status, body: received.join(''), headers }));
    });
    req.on('error', reject);
  });
  req.flushHeaders();
  return { req, response, received };
}

describe('sidecar streaming', () => {
  it('streams a chunked upload and answer through a Continue plugin, chunk by chunk', async () => {
    let sendRest: (() => void) | undefined;
    const { proc, url } = await startSidecarCli(['--wasm', wasmPath, '--upstream', upstreamUrl]);
    try {
      answer = (_req, res) => {
        res.write('x');
        sendRest = () => res.end('yy');
      };
      const post = chunkedPost(url, 'c');
      post.req.write('aa');
      // The first chunk reaches the upstream while the client has not sent the rest: nothing is held.
      await waitFor('the upstream to read the first chunk', () => upstreamGot === 'aa');
      post.req.write('bbb');
      await waitFor('the second chunk', () => upstreamGot === 'aabbb');
      post.req.end();
      await waitFor('the first answer chunk at the client', () => post.received.join('') === 'x');
      sendRest!();
      const res = await post.response;
      expect(res).toMatchObject({ status: 200, body: 'xyy' });
      const bodyLogs = () =>
        proc.lines.filter((l) => / wasm log: (req|resp|eos) /.test(l)).map((l) => l.split(': ')[1]);
      const logs = await waitFor('the plugin logs', () => bodyLogs().length >= 12 && bodyLogs());
      // Chunked bodies end with an empty end_of_stream chunk, as Envoy's HTTP/1 codec delivers them.
      expect(logs).toEqual([
        ...['req 2', 'eos 0', 'req 3', 'eos 0', 'req 0', 'eos 1'],
        ...['resp 1', 'eos 0', 'resp 2', 'eos 0', 'resp 0', 'eos 1'],
      ]);
    } finally {
      await proc.stop();
    }
  });

  it("holds a buffering plugin's body until end_of_stream, then sends it on framed", async () => {
    const { proc, url } = await startSidecarCli(['--wasm', wasmPath, '--upstream', upstreamUrl]);
    try {
      let seenLength: string | undefined;
      answer = (req, res) => {
        seenLength = req.headers['content-length'];
        res.write('x');
        res.end('yy');
      };
      const post = chunkedPost(url, 'b');
      post.req.write('aa');
      await waitFor('the plugin to see the first chunk', () =>
        proc.lines.some((l) => l.endsWith('wasm log: req 2')),
      );
      post.req.write('bbb');
      await waitFor('the second chunk', () =>
        proc.lines.some((l) => l.endsWith('wasm log: req 5')),
      );
      expect(upstreamGot).toBe('');
      post.req.end();
      const res = await post.response;
      expect(res.status).toBe(200);
      expect(res.body).toBe('xyy#');
      // The response the plugin changed went out with its new, complete length.
      expect(res.headers['content-length']).toBe('4');
      expect(upstreamGot).toBe('aabbb');
      // The request body was not changed: it stays chunked as the client sent it.
      expect(seenLength).toBeUndefined();
      expect(proc.lines.some((l) => l.endsWith('wasm log: aabbb'))).toBe(true);
    } finally {
      await proc.stop();
    }
  });

  it('answers 413 past --buffer-limit-bytes and streams 3 MiB both ways when the plugin does not buffer', async () => {
    const big = Buffer.alloc(3 << 20, 'z');
    const { proc, url } = await startSidecarCli([
      '--wasm',
      wasmPath,
      '--upstream',
      upstreamUrl,
      '--buffer-limit-bytes',
      '1000',
    ]);
    try {
      const tooBig = await fetch(`${url}/`, {
        method: 'POST',
        headers: { 'x-mode': 'b' },
        body: big,
      });
      expect(tooBig.status).toBe(413);
      expect(upstreamEnded).toBe(false);

      answer = (_req, res) => res.end(big);
      const streamed = await fetch(`${url}/`, {
        method: 'POST',
        headers: { 'x-mode': 'c' },
        body: big,
      });
      expect(streamed.status).toBe(200);
      expect((await streamed.arrayBuffer()).byteLength).toBe(big.length);
      expect(upstreamGot.length).toBe(big.length);
    } finally {
      await proc.stop();
    }
  });
});
