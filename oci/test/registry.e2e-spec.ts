import { execFile as execFileCb } from 'node:child_process';
import { promisify } from 'node:util';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../test/support/ports';
import { stopAllProcesses } from '../../test/support/child-process';
import { imageDir } from '../src/store';
import { blobDataPath, startRegistry, type TestRegistry } from './registry';
import { cli, testWasm } from './wasm-fixture';

const execFileAsync = promisify(execFileCb);
/** Runs a tool without blocking the event loop (the token server and the registry's pipes live on it). */
async function run(cmd: string, args: string[]): Promise<string> {
  const { stdout } = await execFileAsync(cmd, args, { encoding: 'utf8', timeout: 30_000 });
  return stdout;
}
async function runBuffer(cmd: string, args: string[]): Promise<Buffer> {
  const { stdout } = await execFileAsync(cmd, args, { encoding: 'buffer', timeout: 30_000 });
  return stdout;
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** Every file under a folder with its content hash: to show a failed command left the store as it was. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) {
      const path = join(entry.parentPath, entry.name);
      out[path] = sha256(readFileSync(path));
    }
  }
  return out;
}

describe('mesha-wasm against a real docker-registry', () => {
  let registry: TestRegistry;
  let work: string;
  let wasmFile: string;
  let wasm: Buffer;

  beforeAll(async () => {
    registry = await startRegistry();
    work = mkdtempSync(join(tmpdir(), 'mesha-oci-'));
    wasm = await testWasm();
    wasmFile = join(work, 'filter.wasm');
    writeFileSync(wasmFile, wasm);
  });

  afterAll(async () => {
    await registry?.stop();
    await stopAllProcesses();
    rmSync(work, { recursive: true, force: true });
  });

  it('pushes an image skopeo reads, whose layer holds plugin.wasm byte for byte', async () => {
    const ref = `${registry.host}/mesha/reporter:skopeo`;
    const pushed = await cli(['push', ref, '--file', wasmFile, '--insecure', '--json']);
    expect(pushed).toMatchObject({ code: 0, stderr: '' });
    const result = JSON.parse(pushed.stdout) as {
      digest: string;
      wasmSha256: string;
      size: number;
    };
    expect(result.wasmSha256).toBe(sha256(wasm));

    const inspect = JSON.parse(
      await run('skopeo', ['inspect', '--tls-verify=false', `docker://${ref}`]),
    ) as { Digest: string; Layers: string[] };
    expect(inspect.Digest).toBe(result.digest);
    expect(inspect.Layers).toHaveLength(1);

    const copied = join(work, 'skopeo-dir');
    await run('skopeo', ['copy', '--src-tls-verify=false', `docker://${ref}`, `dir:${copied}`]);
    const manifest = JSON.parse(readFileSync(join(copied, 'manifest.json'), 'utf8')) as {
      mediaType: string;
      layers: Array<{ mediaType: string; digest: string }>;
      annotations: Record<string, string>;
    };
    expect(manifest.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
    expect(manifest.layers.map((l) => l.mediaType)).toEqual([
      'application/vnd.oci.image.layer.v1.tar+gzip',
    ]);
    expect(manifest.annotations['module.wasm.image/variant']).toBe('compat');
    const layerFile = join(copied, manifest.layers[0].digest.replace('sha256:', ''));
    // GNU tar, not our code, unpacks the layer.
    expect(await run('tar', ['-tzvf', layerFile])).toMatch(/0\/0 .* plugin\.wasm/);
    const extracted = await runBuffer('tar', ['-xzOf', layerFile, 'plugin.wasm']);
    expect(extracted.equals(wasm)).toBe(true);
  });

  it('pushes the same wasm to the same digest every time, uploading nothing the second time', async () => {
    const ref = `${registry.host}/mesha/reporter:again`;
    const first = await cli(['push', ref, '--file', wasmFile, '--insecure', '--json']);
    const second = await cli([
      'push',
      `${registry.host}/other/name:x`,
      '--file',
      wasmFile,
      '--insecure',
      '--json',
    ]);
    const third = await cli(['push', ref, '--file', wasmFile, '--insecure', '--json']);
    expect([first.code, second.code, third.code]).toEqual([0, 0, 0]);
    const [a, b, c] = [first, second, third].map(
      (r) => JSON.parse(r.stdout) as { digest: string; uploaded: number },
    );
    expect(b.digest).toBe(a.digest);
    expect(c.digest).toBe(a.digest);
    expect(c.uploaded).toBe(0);
  });

  it('pulls into the store, verifying digests, and lists what it holds', async () => {
    const ref = `${registry.host}/mesha/reporter:pull`;
    const store = join(work, 'store-pull');
    const pushed = JSON.parse(
      (await cli(['push', ref, '--file', wasmFile, '--insecure', '--json'])).stdout,
    ) as {
      digest: string;
    };
    const pulled = await cli(['pull', `oci://${ref}`, '--insecure'], { MESHA_STORE: store });
    expect(pulled).toMatchObject({ code: 0, stderr: '' });

    const dir = imageDir(store, ref);
    expect(readdirSync(dir).sort()).toEqual(
      ['descriptor.json', 'filter.wasm', 'image_ref', 'info.json', 'manifest.json'].sort(),
    );
    expect(readFileSync(join(dir, 'filter.wasm')).equals(wasm)).toBe(true);
    expect(readFileSync(join(dir, 'image_ref'), 'utf8').trim()).toBe(ref);
    expect(sha256(readFileSync(join(dir, 'manifest.json')))).toBe(
      pushed.digest.replace('sha256:', ''),
    );
    const descriptor = JSON.parse(readFileSync(join(dir, 'descriptor.json'), 'utf8')) as {
      mediaType: string;
    };
    expect(descriptor.mediaType).toBe('application/vnd.oci.image.layer.v1.tar+gzip');

    const listed = await cli(['list', '--store', store]);
    expect(listed.code).toBe(0);
    const [header, row] = listed.stdout.split('\n');
    expect(header.split(/\s+/)).toEqual(['REF', 'DIGEST', 'SIZE', 'PULLED']);
    expect(row).toContain(ref);
    expect(row).toContain(pushed.digest);
    expect(row).toMatch(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/);
    const json = JSON.parse((await cli(['list', '--store', store, '--json'])).stdout) as Array<{
      size: number;
    }>;
    expect(json).toEqual([
      expect.objectContaining({ ref, digest: pushed.digest, size: wasm.length }),
    ]);
  });

  it('replaces an image in the store when its tag moves, keeping one entry and no temporary folders', async () => {
    const ref = `${registry.host}/mesha/moving:latest`;
    const store = join(work, 'store-moving');
    const next = Buffer.concat([wasm, Buffer.from([0x00, 0x04, 0x6e, 0x65, 0x78, 0x74])]);
    writeFileSync(join(work, 'next.wasm'), next);
    expect((await cli(['push', ref, '--file', wasmFile, '--insecure'])).code).toBe(0);
    expect((await cli(['pull', ref, '--insecure', '--store', store])).code).toBe(0);
    expect((await cli(['push', ref, '--file', join(work, 'next.wasm'), '--insecure'])).code).toBe(
      0,
    );
    expect((await cli(['pull', ref, '--insecure', '--store', store])).code).toBe(0);
    expect(readFileSync(join(imageDir(store, ref), 'filter.wasm')).equals(next)).toBe(true);
    expect(readdirSync(store)).toEqual([imageDir(store, ref).split('/').pop()]);
    const listed = JSON.parse(
      (await cli(['list', '--store', store, '--json'])).stdout,
    ) as unknown[];
    expect(listed).toEqual([expect.objectContaining({ ref, size: next.length })]);
  });

  it('fails with a digest mismatch when the registry serves tampered bytes, leaving the store as it was', async () => {
    const ref = `${registry.host}/mesha/tamper:1`;
    const store = join(work, 'store-tamper');
    // A module of its own, so tampering its layer does not disturb the other tests' blobs.
    const own = Buffer.concat([wasm, Buffer.from([0x00, 0x04, 0x6f, 0x77, 0x6e, 0x31])]);
    writeFileSync(join(work, 'own.wasm'), own);
    const pushed = await cli(['push', ref, '--file', join(work, 'own.wasm'), '--insecure']);
    expect(pushed.code).toBe(0);
    expect((await cli(['pull', ref, '--insecure', '--store', store])).code).toBe(0);
    const before = snapshot(store);

    const manifest = JSON.parse(
      readFileSync(join(imageDir(store, ref), 'manifest.json'), 'utf8'),
    ) as {
      layers: Array<{ digest: string }>;
    };
    const blob = blobDataPath(registry.storageDir, manifest.layers[0].digest);
    const bytes = readFileSync(blob);
    bytes[bytes.length - 10] ^= 0xff; // same length, different content
    writeFileSync(blob, bytes);

    const pulled = await cli(['pull', ref, '--insecure', '--store', store]);
    expect(pulled.code).toBe(5);
    expect(pulled.stderr).toMatch(/digest mismatch for blob sha256:[a-f0-9]{64}/);
    expect(snapshot(store)).toEqual(before);
    expect(readdirSync(store).filter((n) => n.startsWith('.'))).toEqual([]);
  });

  it('rejects bad references before any network or store access', async () => {
    const store = join(work, 'store-bad-ref');
    for (const ref of [
      '',
      'UPPER/case',
      `${registry.host}/a:bad tag`,
      'x@sha256:1234',
      'https://example.com/x',
    ]) {
      const run = await cli(['pull', ref, '--insecure', '--store', store]);
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(/invalid image reference/);
    }
    expect(() => readdirSync(store)).toThrow(/ENOENT/);
  });

  it('reports an unreachable registry, and hints at --insecure when HTTPS meets plain HTTP', async () => {
    const port = await freePort();
    const store = join(work, 'store-unreachable');
    const down = await cli([
      'pull',
      `127.0.0.1:${port}/mesha/reporter:1`,
      '--insecure',
      '--store',
      store,
    ]);
    expect(down.code).toBe(3);
    expect(down.stderr).toMatch(/cannot reach registry http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/);
    const tls = await cli(['pull', `${registry.host}/mesha/reporter:pull`, '--store', store]);
    expect(tls.code).toBe(3);
    expect(tls.stderr).toMatch(/https:\/\/.*pass --insecure/);
    expect(() => readdirSync(store)).toThrow(/ENOENT/);
  });

  it('says when a tag does not exist', async () => {
    const run = await cli([
      'pull',
      `${registry.host}/mesha/reporter:nope`,
      '--insecure',
      '--store',
      join(work, 's'),
    ]);
    expect(run.code).toBe(6);
    expect(run.stderr).toMatch(/not found/);
  });
});

describe.each([
  ['htpasswd (Basic)', 'htpasswd'],
  ['token (Bearer)', 'token'],
] as const)('mesha-wasm against a registry with %s auth', (_name, kind) => {
  let registry: TestRegistry;
  let work: string;
  let wasmFile: string;
  const creds = { username: 'mesha', password: 's3cret-pass' };

  beforeAll(async () => {
    registry = await startRegistry({ kind, ...creds });
    work = mkdtempSync(join(tmpdir(), 'mesha-oci-auth-'));
    wasmFile = join(work, 'filter.wasm');
    writeFileSync(wasmFile, await testWasm());
  });

  afterAll(async () => {
    await registry?.stop();
    await stopAllProcesses();
    rmSync(work, { recursive: true, force: true });
  });

  it('pushes and pulls with the right credentials (flags or environment)', async () => {
    const ref = `${registry.host}/mesha/reporter:auth`;
    const store = join(work, 'store');
    const pushed = await cli([
      'push',
      ref,
      '--file',
      wasmFile,
      '--insecure',
      '--username',
      creds.username,
      '--password',
      creds.password,
    ]);
    expect(pushed).toMatchObject({ code: 0, stderr: '' });
    const pulled = await cli(['pull', ref, '--insecure', '--store', store], {
      MESHA_REGISTRY_USERNAME: creds.username,
      MESHA_REGISTRY_PASSWORD: creds.password,
    });
    expect(pulled).toMatchObject({ code: 0, stderr: '' });
    const inspect = await run('skopeo', [
      'inspect',
      '--tls-verify=false',
      '--creds',
      `${creds.username}:${creds.password}`,
      `docker://${ref}`,
    ]);
    expect(JSON.parse(inspect)).toMatchObject({ Name: `${registry.host}/mesha/reporter` });
  });

  it('takes the password from stdin with --password-stdin', async () => {
    const ref = `${registry.host}/mesha/reporter:stdin`;
    const args = [
      'push',
      ref,
      '--file',
      wasmFile,
      '--insecure',
      '--username',
      creds.username,
      '--password-stdin',
    ];
    expect(await cli(args, {}, `${creds.password}\n`)).toMatchObject({ code: 0, stderr: '' });
    expect((await cli(args, {}, 'not-it\n')).code).toBe(4);
  });

  it('fails clearly without credentials or with wrong ones, never echoing the password', async () => {
    const ref = `${registry.host}/mesha/reporter:denied`;
    const store = join(work, 'store-denied');
    const none = await cli(['push', ref, '--file', wasmFile, '--insecure']);
    expect(none.code).toBe(4);
    expect(none.stderr).toMatch(/requires credentials|rejected anonymous/);
    const wrong = await cli([
      'pull',
      ref,
      '--insecure',
      '--store',
      store,
      '--username',
      'mesha',
      '--password',
      'wrong-pass',
    ]);
    expect(wrong.code).toBe(4);
    expect(wrong.stderr).toMatch(/rejected.*"mesha"/);
    expect(wrong.stderr).not.toContain('wrong-pass');
    expect(() => readdirSync(store)).toThrow(/ENOENT/);
  });
});
