import { createServer, type Server } from 'node:http';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { stopAllProcesses } from '../../test/support/child-process';
import { digestOf } from '../src/digest';
import { MediaType, type Descriptor } from '../src/media-types';
import { deterministicTar, packCompatImage } from '../src/pack';
import { parseImageRef } from '../src/reference';
import { RegistryClient } from '../src/registry-client';
import { imageDir } from '../src/store';
import { startRegistry, type TestRegistry } from './registry';
import { cli, testWasm } from './wasm-fixture';

function blob(mediaType: string, data: Buffer): { descriptor: Descriptor; data: Buffer } {
  return { descriptor: { mediaType, digest: digestOf(data), size: data.length }, data };
}

/** Pushes an image of any layout with the client's own primitives, as other tools would have built it. */
async function pushRaw(
  ref: string,
  manifestType: string,
  config: ReturnType<typeof blob>,
  layers: Array<ReturnType<typeof blob>>,
): Promise<string> {
  const client = new RegistryClient(parseImageRef(ref), { insecure: true, actions: 'pull,push' });
  for (const b of [config, ...layers]) await client.uploadBlob(b.descriptor, b.data);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: manifestType,
      config: config.descriptor,
      layers: layers.map((l) => l.descriptor),
    }),
  );
  return client.putManifest(parseImageRef(ref).tag ?? 'latest', manifestType, manifest);
}

describe('mesha-wasm pull reads every layout Istio reads', () => {
  let registry: TestRegistry;
  let work: string;
  let wasm: Buffer;

  beforeAll(async () => {
    registry = await startRegistry();
    work = mkdtempSync(join(tmpdir(), 'mesha-layouts-'));
    wasm = await testWasm();
  });
  afterAll(async () => {
    await registry?.stop();
    await stopAllProcesses();
    rmSync(work, { recursive: true, force: true });
  });

  it('a Docker image whose last tar.gz layer holds plugin.wasm', async () => {
    const ref = `${registry.host}/other/docker-style:1`;
    const layer = blob(
      MediaType.dockerLayerTarGzip,
      gzipSync(await deterministicTar('plugin.wasm', wasm)),
    );
    const base = blob(
      MediaType.dockerLayerTarGzip,
      gzipSync(await deterministicTar('etc/base.txt', Buffer.from('x'))),
    );
    const config = blob(
      MediaType.dockerConfig,
      Buffer.from('{"architecture":"amd64","os":"linux"}'),
    );
    await pushRaw(ref, MediaType.dockerManifest, config, [base, layer]);
    const store = join(work, 'docker');
    const pulled = await cli(['pull', ref, '--insecure', '--store', store, '--json']);
    expect(pulled).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(pulled.stdout)).toMatchObject({ layout: 'docker-image', size: wasm.length });
    expect(readFileSync(join(imageDir(store, ref), 'filter.wasm')).equals(wasm)).toBe(true);
  });

  it('the two-layer Wasm artifact, keeping its runtime-config.json', async () => {
    const ref = `${registry.host}/other/artifact-style:1`;
    const runtimeConfig = Buffer.from(
      JSON.stringify({
        type: 'envoy_proxy',
        abiVersions: ['v0-097b7f2e4cc1fb490cc1943d0d633655ac3c522f'],
        config: { rootIds: ['mesha'] },
      }),
    );
    // Two layers, as the Wasm image spec has them: runtime-config.json, then the raw module.
    const config = blob(MediaType.wasmConfig, Buffer.from('{}'));
    const content = blob(MediaType.wasmContentLayer, wasm);
    await pushRaw(ref, MediaType.ociManifest, config, [
      blob(MediaType.wasmConfig, runtimeConfig),
      content,
    ]);
    const store = join(work, 'artifact');
    const pulled = await cli(['pull', ref, '--insecure', '--store', store, '--json']);
    expect(pulled).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(pulled.stdout)).toMatchObject({ layout: 'wasm-artifact' });
    const dir = imageDir(store, ref);
    expect(readFileSync(join(dir, 'filter.wasm')).equals(wasm)).toBe(true);
    expect(readFileSync(join(dir, 'runtime-config.json')).equals(runtimeConfig)).toBe(true);
  });

  it('refuses an image without wasm, writing nothing', async () => {
    const ref = `${registry.host}/other/not-wasm:1`;
    const layer = blob(
      MediaType.ociLayerTarGzip,
      gzipSync(await deterministicTar('plugin.wasm', Buffer.from('#!/bin/sh'))),
    );
    await pushRaw(ref, MediaType.ociManifest, blob(MediaType.ociConfig, Buffer.from('{}')), [
      layer,
    ]);
    const store = join(work, 'not-wasm');
    const pulled = await cli(['pull', ref, '--insecure', '--store', store]);
    expect(pulled.code).toBe(5);
    expect(pulled.stderr).toMatch(/not WebAssembly/);
    expect(existsSync(imageDir(store, ref))).toBe(false);
  });
});

describe('mesha-wasm pull against a registry that lies about the manifest', () => {
  let server: Server;
  let host: string;
  let work: string;
  let manifest: Buffer;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'mesha-liar-'));
    manifest = (await packCompatImage(await testWasm())).manifest;
    server = createServer((req, res) => {
      if (req.url?.startsWith('/v2/mesha/reporter/manifests/')) {
        // Claims a digest the bytes do not have, and answers any pinned digest with these bytes.
        res.writeHead(200, {
          'content-type': MediaType.ociManifest,
          'docker-content-digest': `sha256:${'e'.repeat(64)}`,
        });
        res.end(manifest);
        return;
      }
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    host = `127.0.0.1:${address.port}`;
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(work, { recursive: true, force: true });
  });

  it.each([
    [
      'a tag, with a false Docker-Content-Digest',
      ':1',
      /registry said sha256:e{64}, content is sha256:/,
    ],
    [
      'a pinned digest it does not have',
      `@sha256:${'a'.repeat(64)}`,
      /asked for sha256:a{64}, got sha256:/,
    ],
  ])('%s: digest mismatch, exit 5, store untouched', async (_what, suffix, message) => {
    const store = join(work, 'store');
    const pulled = await cli([
      'pull',
      `${host}/mesha/reporter${suffix}`,
      '--insecure',
      '--store',
      store,
    ]);
    expect(pulled.code).toBe(5);
    expect(pulled.stderr).toMatch(message);
    expect(existsSync(store)).toBe(false);
  });
});
