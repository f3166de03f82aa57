import { gunzipSync } from 'node:zlib';
import { extract as tarExtract } from 'tar-stream';
import { Readable } from 'node:stream';
import { OciError } from './errors';
import { printable } from './terminal-text';
import { isWasm } from './pack';
import { MediaType, PLUGIN_FILE_NAME, type Descriptor, type ImageManifest } from './media-types';

export type Layout = 'docker-image' | 'oci-compat-image' | 'wasm-artifact';

/** Which blob holds the module, and how to get the module out of it. */
export interface WasmSource {
  layout: Layout;
  layer: Descriptor;
  /** the artifact layout's runtime-config.json, when it has one */
  runtimeConfig?: Descriptor;
}

const DIGEST = /^sha256:[a-f0-9]{64}$/;

function isDescriptor(value: unknown): value is Descriptor {
  const d = value as Partial<Descriptor> | null;
  return (
    typeof d === 'object' &&
    d !== null &&
    typeof d.mediaType === 'string' &&
    typeof d.digest === 'string' &&
    DIGEST.test(d.digest) &&
    typeof d.size === 'number' &&
    Number.isSafeInteger(d.size) &&
    d.size >= 0
  );
}

export function parseManifest(data: Buffer, mediaType: string): ImageManifest {
  if (mediaType === MediaType.ociIndex || mediaType === MediaType.dockerManifestList) {
    throw new OciError(
      'registry',
      'the reference names an image index; push or pull a single wasm image',
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(data.toString('utf8'));
  } catch {
    throw new OciError('registry', 'the manifest is not JSON');
  }
  const m = parsed as Partial<ImageManifest>;
  if (
    m.schemaVersion !== 2 ||
    !isDescriptor(m.config) ||
    !Array.isArray(m.layers) ||
    !m.layers.every(isDescriptor)
  ) {
    throw new OciError(
      'registry',
      'the manifest is not a schema 2 image manifest with config and layers',
    );
  }
  return { ...m, mediaType } as ImageManifest;
}

/**
 * Finds the module in the order Istio's image fetcher tries: the last tar.gz layer of a Docker image or of an OCI
 * ("compat") image, which must contain `plugin.wasm`; otherwise the two-layer Wasm artifact's raw wasm layer.
 */
export function locateWasm(manifest: ImageManifest): WasmSource {
  const last = manifest.layers[manifest.layers.length - 1];
  if (
    manifest.mediaType === MediaType.dockerManifest ||
    last?.mediaType === MediaType.dockerLayerTarGzip
  ) {
    if (last?.mediaType === MediaType.dockerLayerTarGzip)
      return { layout: 'docker-image', layer: last };
  } else if (last?.mediaType === MediaType.ociLayerTarGzip) {
    return { layout: 'oci-compat-image', layer: last };
  }
  const content = manifest.layers.find((l) => l.mediaType === MediaType.wasmContentLayer);
  if (content && manifest.layers.length <= 2) {
    const runtimeConfig = [...manifest.layers, manifest.config].find(
      (l) => l.mediaType === MediaType.wasmConfig,
    );
    return { layout: 'wasm-artifact', layer: content, runtimeConfig };
  }
  throw new OciError(
    'registry',
    `no wasm in this image: expected a last tar+gzip layer holding ${PLUGIN_FILE_NAME} or a ${MediaType.wasmContentLayer} layer, got ${last ? printable(last.mediaType, 200) : 'no layers'}`,
  );
}

/** Gets `plugin.wasm` out of a tar.gz layer, bounded in size. */
export async function extractPluginWasm(layer: Buffer, maxBytes: number): Promise<Buffer> {
  let tar: Buffer;
  try {
    tar = gunzipSync(layer, { maxOutputLength: maxBytes + 64 * 1024 });
  } catch (err) {
    throw new OciError(
      'registry',
      `the layer is not a readable gzip stream: ${(err as Error).message}`,
    );
  }
  const extractor = tarExtract();
  let found: Buffer | undefined;
  const done = new Promise<void>((resolve, reject) => {
    extractor.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      const wanted = header.type === 'file' && header.name.split('/').pop() === PLUGIN_FILE_NAME;
      stream.on('data', (c) => {
        if (wanted) chunks.push(c as Buffer);
      });
      stream.on('end', () => {
        if (wanted) found = Buffer.concat(chunks);
        next();
      });
      stream.on('error', reject);
    });
    extractor.on('finish', resolve);
    extractor.on('error', (err: Error) =>
      reject(new OciError('registry', `the layer is not a readable tar: ${err.message}`)),
    );
  });
  Readable.from([tar]).pipe(extractor);
  await done;
  if (!found) throw new OciError('registry', `the layer holds no ${PLUGIN_FILE_NAME}`);
  return found;
}

export function assertWasm(bytes: Buffer): Buffer {
  if (!isWasm(bytes))
    throw new OciError('integrity', 'the pulled module is not WebAssembly (no \\0asm header)');
  return bytes;
}
