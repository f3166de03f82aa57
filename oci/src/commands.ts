import { readFile, stat } from 'node:fs/promises';
import type { Credentials } from './auth';
import { sha256Hex } from './digest';
import { OciError } from './errors';
import { MediaType } from './media-types';
import { packCompatImage } from './pack';
import { manifestReference, parseImageRef } from './reference';
import { RegistryClient } from './registry-client';
import { listImages, saveImage, type StoredImage } from './store';
import { assertWasm, extractPluginWasm, locateWasm, parseManifest } from './unpack';

/** Larger than any sane proxy-wasm plugin; bounds what push reads and pull accepts. */
export const MAX_WASM_BYTES = 64 * 1024 * 1024;
const MAX_RUNTIME_CONFIG_BYTES = 64 * 1024;

export interface RemoteOptions {
  insecure: boolean;
  credentials?: Credentials;
  timeoutMs?: number;
}

export interface PushResult {
  ref: string;
  digest: string;
  wasmSha256: string;
  size: number;
  uploaded: number;
}

export async function push(
  refText: string,
  file: string,
  options: RemoteOptions,
): Promise<PushResult> {
  const ref = parseImageRef(refText);
  const wasm = await readWasmFile(file);
  const image = await packCompatImage(wasm);
  if (ref.digest && ref.digest !== image.manifestDigest) {
    throw new OciError(
      'usage',
      `${file} packs to ${image.manifestDigest}, not the pinned ${ref.digest}`,
    );
  }
  const client = new RegistryClient(ref, { ...options, actions: 'pull,push' });
  let uploaded = 0;
  for (const blob of [image.layer, image.config]) {
    if (await client.blobExists(blob.descriptor.digest)) continue;
    await client.uploadBlob(blob.descriptor, blob.data);
    uploaded += 1;
  }
  const digest = await client.putManifest(
    manifestReference(ref),
    MediaType.ociManifest,
    image.manifest,
  );
  return { ref: ref.canonical, digest, wasmSha256: sha256Hex(wasm), size: wasm.length, uploaded };
}

export interface PullResult extends StoredImage {
  dir: string;
}

/** Fetches manifest and blobs, verifies every digest, and only then writes the image into the store. */
export async function pull(
  refText: string,
  storeDir: string,
  options: RemoteOptions,
  now: () => Date = () => new Date(),
): Promise<PullResult> {
  const ref = parseImageRef(refText);
  const client = new RegistryClient(ref, { ...options, actions: 'pull' });
  const fetched = await client.getManifest(manifestReference(ref));
  const manifest = parseManifest(fetched.data, fetched.mediaType);
  const source = locateWasm(manifest);
  const layer = await client.getBlob(source.layer, MAX_WASM_BYTES);
  const wasm = assertWasm(
    source.layout === 'wasm-artifact' ? layer : await extractPluginWasm(layer, MAX_WASM_BYTES),
  );
  const runtimeConfig = source.runtimeConfig
    ? await client.getBlob(source.runtimeConfig, MAX_RUNTIME_CONFIG_BYTES)
    : undefined;
  const pulledAt = now();
  const dir = await saveImage(storeDir, {
    ref: ref.canonical,
    manifest: fetched.data,
    layer: source.layer,
    wasm,
    runtimeConfig,
    layout: source.layout,
    now: pulledAt,
  });
  return {
    dir,
    ref: ref.canonical,
    digest: fetched.digest,
    layout: source.layout,
    wasmSha256: sha256Hex(wasm),
    size: wasm.length,
    pulledAt: pulledAt.toISOString(),
  };
}

export function list(storeDir: string): Promise<StoredImage[]> {
  return listImages(storeDir);
}

async function readWasmFile(file: string): Promise<Buffer> {
  try {
    const info = await stat(file);
    if (!info.isFile()) throw new OciError('usage', `${file} is not a file`);
    if (info.size > MAX_WASM_BYTES)
      throw new OciError('usage', `${file} is over ${MAX_WASM_BYTES} bytes`);
    return await readFile(file);
  } catch (err) {
    if (err instanceof OciError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    const hint = code === 'ENOENT' ? ' (build it with npm run build:wasm, or pass --file)' : '';
    throw new OciError('usage', `cannot read ${file}: ${code ?? (err as Error).message}${hint}`);
  }
}
