import { execFileSync } from 'node:child_process';
import { createSign, randomUUID, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startProcess, type RunningProcess } from '../../test/support/child-process';
import { freePort } from '../../test/support/ports';
import { waitFor } from '../../test/support/wait-for';

/** A real Distribution registry (Debian's docker-registry) on a free loopback port, storage in a temp dir. */
export interface TestRegistry {
  host: string;
  storageDir: string;
  proc: RunningProcess;
  stop(): Promise<void>;
}

export type RegistryAuth =
  | { kind: 'none' }
  | { kind: 'htpasswd'; username: string; password: string }
  | { kind: 'token'; username: string; password: string };

/** Writes the registry's config and starts it; resolves once /v2/ answers (200 or 401). */
export async function startRegistry(auth: RegistryAuth = { kind: 'none' }): Promise<TestRegistry> {
  const dir = mkdtempSync(join(tmpdir(), 'mesha-registry-'));
  const storageDir = join(dir, 'storage');
  const port = await freePort();
  let authBlock = '';
  let tokenServer: Server | undefined;
  if (auth.kind === 'htpasswd') {
    const line = execFileSync('htpasswd', ['-Bbn', auth.username, auth.password], {
      encoding: 'utf8',
    });
    writeFileSync(join(dir, 'htpasswd'), line.trim() + '\n');
    authBlock = `auth:\n  htpasswd:\n    realm: mesha-test\n    path: ${join(dir, 'htpasswd')}\n`;
  } else if (auth.kind === 'token') {
    const issuer = await startTokenServer(dir, auth);
    tokenServer = issuer.server;
    authBlock =
      `auth:\n  token:\n    realm: ${issuer.realm}\n    service: ${TOKEN_SERVICE}\n` +
      `    issuer: ${TOKEN_ISSUER}\n    rootcertbundle: ${issuer.certFile}\n`;
  }
  const config =
    `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n` +
    `storage:\n  filesystem:\n    rootdirectory: ${storageDir}\n` +
    `http:\n  addr: 127.0.0.1:${port}\n  secret: mesha-test-secret\n${authBlock}`;
  writeFileSync(join(dir, 'config.yml'), config);
  const proc = startProcess('docker-registry', ['serve', join(dir, 'config.yml')]);
  const host = `127.0.0.1:${port}`;
  const stop = async () => {
    await proc.stop('SIGTERM', 5_000);
    await new Promise<void>((resolve) =>
      tokenServer ? tokenServer.close(() => resolve()) : resolve(),
    );
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      `docker-registry on ${host}`,
      async () => {
        if (proc.proc.exitCode !== null) throw new Error(`registry exited:\n${proc.output()}`);
        const res = await fetch(`http://${host}/v2/`).catch(() => undefined);
        return res !== undefined && (res.status === 200 || res.status === 401);
      },
      { timeoutMs: 20_000 },
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { host, storageDir, proc, stop };
}

/** Where the registry keeps a blob's bytes (distribution's filesystem driver layout). */
export function blobDataPath(storageDir: string, digest: string): string {
  const hex = digest.replace(/^sha256:/, '');
  return join(storageDir, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
}

const TOKEN_SERVICE = 'mesha-test-registry';
const TOKEN_ISSUER = 'mesha-test-issuer';

function base64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

/**
 * A token endpoint as the distribution token-auth spec describes: it checks basic credentials and answers a JWT,
 * signed with a key whose self-signed certificate the registry trusts, granting the scopes asked for.
 */
async function startTokenServer(
  dir: string,
  auth: { username: string; password: string },
): Promise<{ server: Server; realm: string; certFile: string }> {
  const keyFile = join(dir, 'token.key');
  const certFile = join(dir, 'token.crt');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-days',
      '1',
      '-subj',
      '/CN=mesha-test-token',
    ],
    { stdio: 'ignore' },
  );
  const key = readFileSync(keyFile, 'utf8');
  const certDer = new X509Certificate(readFileSync(certFile)).raw;
  const expected = `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`;
  const server = createServer((req, res) => {
    if (req.headers.authorization !== expected) {
      res
        .writeHead(401, { 'content-type': 'application/json' })
        .end('{"details":"bad credentials"}');
      return;
    }
    const url = new URL(req.url ?? '/', 'http://token');
    const access = url.searchParams.getAll('scope').map((scope) => {
      const [type, name, actions] = scope.split(':');
      return { type, name, actions: actions.split(',') };
    });
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: 'JWT', alg: 'RS256', x5c: [certDer.toString('base64')] };
    const claims = {
      iss: TOKEN_ISSUER,
      sub: auth.username,
      aud: url.searchParams.get('service'),
      exp: now + 300,
      nbf: now - 10,
      iat: now,
      jti: randomUUID(),
      access,
    };
    const unsigned = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
    const signature = createSign('RSA-SHA256').update(unsigned).sign(key);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ token: `${unsigned}.${base64url(signature)}`, expires_in: 300 }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('token server has no port');
  return { server, realm: `http://127.0.0.1:${address.port}/token`, certFile };
}
