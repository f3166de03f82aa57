import { gunzipSync } from 'node:zlib';
import { parseChallenge } from '../src/auth';
import { digestOf } from '../src/digest';
import { packCompatImage } from '../src/pack';
import { extractPluginWasm, locateWasm, parseManifest } from '../src/unpack';
import { testWasm } from './wasm-fixture';

describe('packCompatImage', () => {
  it('gives the same digests for the same wasm, and other digests for another', async () => {
    const wasm = await testWasm();
    const a = await packCompatImage(wasm);
    const b = await packCompatImage(Buffer.from(wasm));
    expect(b.manifestDigest).toBe(a.manifestDigest);
    expect(b.layer.data.equals(a.layer.data)).toBe(true);
    const other = await packCompatImage(Buffer.concat([wasm, Buffer.from([0, 1, 0x78, 0x00])]));
    expect(other.manifestDigest).not.toBe(a.manifestDigest);
  });

  it('writes a tar whose only entry is plugin.wasm with fixed owner and time', async () => {
    const wasm = await testWasm();
    const image = await packCompatImage(wasm);
    const tar = gunzipSync(image.layer.data);
    const header = tar.subarray(0, 512);
    const field = (offset: number, length: number) =>
      header
        .subarray(offset, offset + length)
        .toString('latin1')
        .replace(/\0.*$/s, '');
    expect(field(0, 100)).toBe('plugin.wasm');
    expect(parseInt(field(108, 8), 8)).toBe(0); // uid
    expect(parseInt(field(116, 8), 8)).toBe(0); // gid
    expect(parseInt(field(124, 12), 8)).toBe(wasm.length);
    expect(parseInt(field(136, 12), 8)).toBe(0); // mtime
    expect(field(265, 32)).toBe(''); // uname
    // gzip header: no mtime, no file name
    expect(image.layer.data.readUInt32LE(4)).toBe(0);
    expect(image.layer.data[3] & 0x08).toBe(0);
    expect(image.layer.descriptor.digest).toBe(digestOf(image.layer.data));
  });

  it('round-trips through the pull side: manifest, layout, plugin.wasm', async () => {
    const wasm = await testWasm();
    const image = await packCompatImage(wasm);
    const manifest = parseManifest(image.manifest, 'application/vnd.oci.image.manifest.v1+json');
    const source = locateWasm(manifest);
    expect(source.layout).toBe('oci-compat-image');
    expect((await extractPluginWasm(image.layer.data, 1 << 20)).equals(wasm)).toBe(true);
  });

  it('refuses a file that is not WebAssembly', async () => {
    await expect(packCompatImage(Buffer.from('#!/bin/sh\necho hi\n'))).rejects.toThrow(
      /not a WebAssembly/,
    );
  });

  it('refuses to unpack more than the size bound', async () => {
    const big = Buffer.concat([await testWasm(), Buffer.alloc(300_000)]);
    const image = await packCompatImage(big);
    await expect(extractPluginWasm(image.layer.data, 1024)).rejects.toThrow(/gzip/);
  });
});

describe('parseChallenge', () => {
  it('reads Bearer realm, service and scope, and Basic realm', () => {
    expect(
      parseChallenge(
        'Bearer realm="https://auth.r.io/token",service="r.io",scope="repository:a/b:pull,push"',
      ),
    ).toEqual({
      scheme: 'bearer',
      realm: 'https://auth.r.io/token',
      service: 'r.io',
      scope: 'repository:a/b:pull,push',
    });
    expect(parseChallenge('Basic realm="Registry Realm"')).toEqual({
      scheme: 'basic',
      realm: 'Registry Realm',
    });
    expect(parseChallenge('Bearer service="x"')).toBeUndefined();
    expect(parseChallenge('Negotiate abc')).toBeUndefined();
    expect(parseChallenge(null)).toBeUndefined();
  });
});
