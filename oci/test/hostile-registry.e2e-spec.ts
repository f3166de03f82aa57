import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startProcess, stopAllProcesses } from '../../test/support/child-process';
import { freePort } from '../../test/support/ports';
import { REPO_ROOT } from '../../test/support/mesha';
import { pull as pullImage } from '../src/commands';
import { OciError } from '../src/errors';
import { packCompatImage, type PackedImage } from '../src/pack';
import { MediaType } from '../src/media-types';
import { HUGE_BYTES, startStubRegistry, streamEndlessly, type StubRegistry } from './stub-registry';
import { cli, testWasm } from './wasm-fixture';

// What a real registry never does, from a stub on loopback: endless bodies, connections cut mid-blob, escape
// sequences in its text. Each case checks the documented exit code, a one-line message, bytes read bounded, and
// that the store was not touched.

/** Every C0/C1 control character and bidi override: none may reach a terminal. */
const RAW_CONTROL = /[\p{Cc}\u202a-\u202e\u2066-\u2069]/u;
const HOSTILE_TEXT =
  '\u001b]0;owned\u0007\u001b[2J\r\nmesha-wasm: pushed evil \u009b31m\u202egnp.exe';
/** An endless body is never taken further than the cap plus what loopback socket buffers hold. */
const BOUNDED_BYTES = 64 * 1024 * 1024;

describe('mesha-wasm against a hostile registry (stub on loopback)', () => {
  let image: PackedImage;
  let stub: StubRegistry;
  let work: string;
  let blobGets = 0;
  /** how the last endless body ended, once it has */
  let endless: Promise<'cut' | 'finished'> | undefined;

  const blobs = () => new Map([image.layer, image.config].map((b) => [b.descriptor.digest, b]));

  beforeAll(async () => {
    image = await packCompatImage(await testWasm());
    work = mkdtempSync(join(tmpdir(), 'mesha-hostile-'));
    stub = await startStubRegistry((path) => {
      const manifest = /^\/v2\/mesha\/([a-z-]+)\/manifests\/([a-z0-9-]+)$/.exec(path);
      const blob = /^\/v2\/mesha\/([a-z-]+)\/blobs\/(sha256:[a-f0-9]{64})$/.exec(path);
      if (path === '/token') {
        return (_req, res) => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.write(Buffer.from('{"token":"'));
          streamEndlessly(res, Buffer.alloc(64 * 1024, 'a'), HUGE_BYTES);
        };
      }
      if (manifest) return manifestRoute(manifest[1], manifest[2]);
      if (blob) return blobRoute(blob[1], blob[2]);
      return undefined;
    });
  });

  function manifestRoute(
    repo: string,
    tag: string,
  ): Parameters<typeof startStubRegistry>[0] extends (p: string) => infer R ? R : never {
    return (_req, res) => {
      if (repo === 'tokened') {
        res.writeHead(401, {
          'www-authenticate': `Bearer realm="http://${stub.host}/token",service="stub"`,
        });
        res.end();
        return;
      }
      switch (tag) {
        case 'huge-error':
          res.writeHead(500, { 'content-type': 'text/plain', 'content-length': HUGE_BYTES });
          endless = streamEndlessly(res, Buffer.alloc(64 * 1024, 'e'), HUGE_BYTES);
          return;
        case 'huge-manifest':
          res.writeHead(200, { 'content-type': MediaType.ociManifest });
          res.write(Buffer.from('{"schemaVersion":2,"x":"'));
          streamEndlessly(res, Buffer.alloc(64 * 1024, 'm'), HUGE_BYTES);
          return;
        case 'huge-announced':
          res.writeHead(200, {
            'content-type': MediaType.ociManifest,
            'content-length': HUGE_BYTES,
          });
          streamEndlessly(res, Buffer.alloc(64 * 1024, 'm'), HUGE_BYTES);
          return;
        case 'escapes':
          res.writeHead(500, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ errors: [{ code: 'DENIED', message: HOSTILE_TEXT }] }));
          return;
        case 'escapes-plain':
          res.writeHead(502, { 'content-type': 'text/plain' });
          res.end(HOSTILE_TEXT);
          return;
        case 'c1-digest':
          // Header values may carry bytes 0x80-0xff; fetch reads them as Latin-1, so 0x9b is a C1 CSI.
          res.writeHead(200, {
            'content-type': MediaType.ociManifest,
            'docker-content-digest': 'sha256:\x9b2Jforged',
          });
          res.end(image.manifest);
          return;
        default:
          res.writeHead(200, {
            'content-type': MediaType.ociManifest,
            'content-length': image.manifest.length,
          });
          res.end(image.manifest);
      }
    };
  }

  function blobRoute(repo: string, digest: string): ReturnType<typeof manifestRoute> {
    return (_req, res, socket) => {
      const found = blobs().get(digest);
      if (!found) {
        res.writeHead(404).end();
        return;
      }
      blobGets += 1;
      res.writeHead(200, {
        'content-type': 'application/octet-stream',
        'content-length': found.data.length,
      });
      if (repo === 'stalling') {
        res.write(found.data.subarray(0, found.data.length >> 1)); // and never the rest
        return;
      }
      if (repo === 'dropping' || repo === 'resetting') {
        res.write(found.data.subarray(0, found.data.length >> 1));
        // Let the half go out before the cut, so the client is mid-body when it happens.
        res.once('drain', () => undefined);
        setImmediate(() => (repo === 'dropping' ? socket.destroy() : socket.resetAndDestroy()));
        return;
      }
      res.end(found.data);
    };
  }

  afterAll(async () => {
    await stopAllProcesses();
    await stub?.close();
    rmSync(work, { recursive: true, force: true });
  });

  const store = (name: string) => join(work, `store-${name}`);
  const pull = (ref: string, name: string) =>
    cli(['pull', ref, '--insecure', '--store', store(name)]);

  /** One line, no control characters, no stack frames. */
  function expectCleanMessage(stderr: string): void {
    expect(stderr.split('\n')).toHaveLength(1);
    expect(stderr).not.toMatch(RAW_CONTROL);
    expect(stderr).not.toMatch(/\n\s+at /);
    expect(stderr).toMatch(/^mesha-wasm: /);
  }

  it('pulls from the stub when it behaves (the control case)', async () => {
    const run = await pull(`${stub.host}/mesha/reporter:good`, 'good');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(existsSync(join(store('good')))).toBe(true);
  });

  it('reads only the first bytes of a 1.5 GB error body and exits 6', async () => {
    const before = stub.bytesWritten();
    const rssBefore = process.memoryUsage().rss;
    const run = await pull(`${stub.host}/mesha/reporter:huge-error`, 'huge-error');
    expect(run.code).toBe(6);
    expect(run.stderr).toMatch(/fetching the manifest: http:\/\/\S+ answered HTTP 500 \(e{100,}/);
    expectCleanMessage(run.stderr);
    expect(run.stderr.length).toBeLessThan(4096);
    expect(stub.bytesWritten() - before).toBeLessThan(BOUNDED_BYTES);
    // Measured here: about 4 MiB written (loopback socket buffers), RSS +13 MiB; reading it whole cost 3 GB.
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(4 * BOUNDED_BYTES);
    // The client hung up on the body rather than leaving it half-read on an open connection.
    expect(await endless).toBe('cut');
    expect(existsSync(store('huge-error'))).toBe(false);
  });

  it('stops an endless manifest at 4 MiB (exit 6) and refuses an announced 1.5 GB one unread', async () => {
    let before = stub.bytesWritten();
    const endless = await pull(`${stub.host}/mesha/reporter:huge-manifest`, 'huge-manifest');
    expect(endless.code).toBe(6);
    expect(endless.stderr).toMatch(/the manifest is larger than 4194304 bytes/);
    expectCleanMessage(endless.stderr);
    expect(stub.bytesWritten() - before).toBeLessThan(BOUNDED_BYTES);

    before = stub.bytesWritten();
    const announced = await pull(`${stub.host}/mesha/reporter:huge-announced`, 'huge-manifest');
    expect(announced.code).toBe(6);
    expect(announced.stderr).toMatch(
      /the manifest is 1610612736 bytes by its Content-Length, over the limit of 4194304/,
    );
    expect(stub.bytesWritten() - before).toBeLessThan(BOUNDED_BYTES);
    expect(existsSync(store('huge-manifest'))).toBe(false);
  });

  it('stops an endless token response at its cap and exits 4 (authentication)', async () => {
    const before = stub.bytesWritten();
    const run = await pull(`${stub.host}/mesha/tokened:x`, 'token');
    expect(run.code).toBe(4);
    expect(run.stderr).toMatch(/the token response of http:\/\/\S+ is larger than 262144 bytes/);
    expectCleanMessage(run.stderr);
    expect(stub.bytesWritten() - before).toBeLessThan(BOUNDED_BYTES);
  });

  it.each([
    ['dropped', 'dropping'],
    ['reset', 'resetting'],
  ])(
    'exits 3 (unreachable) with one line when the connection is %s mid-blob, store untouched',
    async (_how, repo) => {
      const gets = blobGets;
      const run = await pull(`${stub.host}/mesha/${repo}:x`, repo);
      expect(blobGets).toBeGreaterThan(gets);
      expect(run.code).toBe(3);
      expect(run.stderr).toMatch(
        /^mesha-wasm: the connection broke while reading blob sha256:[a-f0-9]{64} \(\d+ bytes in\): /,
      );
      expectCleanMessage(run.stderr);
      expect(existsSync(store(repo))).toBe(false);
    },
  );

  it('gives up on a blob that stalls mid-way once the timeout passes: unreachable, store untouched', async () => {
    const started = Date.now();
    const failure = await pullImage(`${stub.host}/mesha/stalling:x`, store('stalling'), {
      insecure: true,
      timeoutMs: 1_000,
    }).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(OciError);
    expect((failure as OciError).exitCode).toBe(3);
    expect((failure as OciError).message).toMatch(
      /the connection broke while reading blob sha256:[a-f0-9]{64} \(\d+ bytes in\): timed out/,
    );
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(existsSync(store('stalling'))).toBe(false);
  });

  it('exits 3 for a refused connection and for a name that does not resolve', async () => {
    const refused = await pull(`127.0.0.1:${await freePort()}/mesha/reporter:x`, 'refused');
    expect(refused.code).toBe(3);
    expect(refused.stderr).toMatch(/cannot reach registry .*ECONNREFUSED/);
    const dns = await pull('registry.invalid/mesha/reporter:x', 'dns');
    expect(dns.code).toBe(3);
    expect(dns.stderr).toMatch(
      /cannot reach registry http:\/\/registry\.invalid: (ENOTFOUND|EAI_AGAIN)/,
    );
    expectCleanMessage(dns.stderr);
  });

  it.each(['escapes', 'escapes-plain'])(
    'prints registry text with escape sequences neutralized (%s)',
    async (tag) => {
      const run = await pull(`${stub.host}/mesha/reporter:${tag}`, tag);
      expect(run.code).toBe(6);
      expectCleanMessage(run.stderr);
      // Visible, not interpreted: the ESC, BEL, CR, LF, CSI and the bidi override are shown as escapes.
      expect(run.stderr).toContain(
        '\\u001b]0;owned\\u0007\\u001b[2J\\u000d\\u000amesha-wasm: pushed evil \\u009b31m\\u202egnp.exe',
      );
    },
  );

  it('neutralizes a C1 control in a registry header (a digest mismatch, exit 5)', async () => {
    const run = await pull(`${stub.host}/mesha/reporter:c1-digest`, 'c1');
    expect(run.code).toBe(5);
    expect(run.stderr).toContain('registry said sha256:\\u009b2Jforged');
    expectCleanMessage(run.stderr);
  });

  it('as a real process: a dropped blob exits 3 with one line on stderr, no stack trace', async () => {
    const proc = startProcess(process.execPath, [
      join(REPO_ROOT, 'oci/bin/mesha-wasm.js'),
      'pull',
      `${stub.host}/mesha/dropping:x`,
      '--insecure',
      '--store',
      store('process'),
    ]);
    expect(await proc.exited).toEqual({ code: 3, signal: null });
    await proc.closed;
    expect(proc.lines.filter((l) => l !== '')).toEqual([
      expect.stringMatching(/^mesha-wasm: the connection broke while reading blob sha256:/),
    ]);
    expect(existsSync(store('process'))).toBe(false);
  });
});
