import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HttpPoster, type PostTarget } from './http-post';

/** HTTPS to a receiver whose certificate no system CA signed (openssl makes one for 127.0.0.1). */
describe('HttpPoster over TLS', () => {
  let dir: string;
  let cert: string;
  let server: Server;
  let url: URL;
  const posters: HttpPoster[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mesha-rw-tls-'));
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    cert = readFileSync(join(dir, 'cert.pem'), 'utf8');
    server = createServer({ cert, key: readFileSync(join(dir, 'key.pem')) }, (req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(204).end());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = new URL(`https://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/write`);
  });

  afterAll(async () => {
    for (const poster of posters) poster.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  const post = (target: Partial<PostTarget>) => {
    const poster = new HttpPoster({
      url,
      headers: {},
      timeoutMs: 10_000,
      rejectUnauthorized: true,
      ...target,
    });
    posters.push(poster);
    return poster.post(Buffer.from('x'));
  };

  it('trusts the receiver through REMOTE_WRITE_TLS_CA_FILE', async () => {
    expect(await post({ ca: cert })).toMatchObject({ kind: 'response', status: 204 });
  });

  it('refuses an unknown certificate by default (an outcome, not a throw)', async () => {
    expect(await post({})).toEqual({ kind: 'error', message: 'self-signed certificate' });
  });

  it('accepts any certificate with REMOTE_WRITE_TLS_INSECURE_SKIP_VERIFY', async () => {
    expect(await post({ rejectUnauthorized: false })).toMatchObject({
      kind: 'response',
      status: 204,
    });
  });
});
