import { gzipSync } from 'node:zlib';
import { pack as tarPack } from 'tar-stream';
import { digestOf } from './digest';
import { OciError } from './errors';
import {
  COMPAT_VARIANT_ANNOTATION,
  MediaType,
  PLUGIN_FILE_NAME,
  type Descriptor,
  type ImageManifest,
} from './media-types';

/** A blob to upload, with the descriptor that names it. */
export interface Blob {
  descriptor: Descriptor;
  data: Buffer;
}

/** Everything `push` sends: the blobs first, then the manifest that ties them together. */
export interface PackedImage {
  config: Blob;
  layer: Blob;
  manifest: Buffer;
  manifestDigest: string;
}

const WASM_MAGIC = Buffer.from([0x00, 0x61, 0x73, 0x6d]);

export function isWasm(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && Buffer.from(bytes.subarray(0, 4)).equals(WASM_MAGIC);
}

/**
 * A tar holding only `plugin.wasm`, with every field that varies between machines fixed (mtime 0, uid/gid 0, no
 * user names, mode 0644), so the same wasm always gives the same bytes.
 */
export async function deterministicTar(fileName: string, content: Buffer): Promise<Buffer> {
  const tar = tarPack();
  const chunks: Buffer[] = [];
  const done = new Promise<Buffer>((resolve, reject) => {
    tar.on('data', (chunk) => chunks.push(chunk as Buffer));
    tar.on('end', () => resolve(Buffer.concat(chunks)));
    tar.on('error', reject);
  });
  tar.entry(
    {
      name: fileName,
      size: content.length,
      mode: 0o644,
      mtime: new Date(0),
      uid: 0,
      gid: 0,
      uname: '',
      gname: '',
      type: 'file',
    },
    content,
  );
  tar.finalize();
  return done;
}

/**
 * Packs a wasm module as the "compat" Wasm OCI image: a standard OCI image manifest whose single
 * `application/vnd.oci.image.layer.v1.tar+gzip` layer holds `plugin.wasm` (see k8s/README.md for why this layout).
 * gzip's header carries no name and mtime 0, and the level is fixed, so the digests depend only on the wasm (and on
 * the zlib build, which ships with Node).
 */
export async function packCompatImage(wasm: Buffer): Promise<PackedImage> {
  if (!isWasm(wasm))
    throw new OciError('usage', 'the file is not a WebAssembly module (no \\0asm header)');
  const tar = await deterministicTar(PLUGIN_FILE_NAME, wasm);
  const layerData = gzipSync(tar, { level: 9 });
  const layer: Blob = {
    data: layerData,
    descriptor: {
      mediaType: MediaType.ociLayerTarGzip,
      digest: digestOf(layerData),
      size: layerData.length,
      annotations: { 'org.opencontainers.image.title': PLUGIN_FILE_NAME },
    },
  };
  const configJson = {
    architecture: 'wasm',
    os: 'wasip1',
    config: {},
    rootfs: { type: 'layers', diff_ids: [digestOf(tar)] },
  };
  const configData = Buffer.from(JSON.stringify(configJson));
  const config: Blob = {
    data: configData,
    descriptor: {
      mediaType: MediaType.ociConfig,
      digest: digestOf(configData),
      size: configData.length,
    },
  };
  const manifest: ImageManifest = {
    schemaVersion: 2,
    // Istio's fetcher switches on this field, so it must be present even though OCI makes it optional.
    mediaType: MediaType.ociManifest,
    config: config.descriptor,
    layers: [layer.descriptor],
    annotations: { [COMPAT_VARIANT_ANNOTATION]: 'compat' },
  };
  const manifestData = Buffer.from(JSON.stringify(manifest));
  return { config, layer, manifest: manifestData, manifestDigest: digestOf(manifestData) };
}
