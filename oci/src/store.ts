import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { digestOf, sha256Hex } from './digest';
import { OciError } from './errors';
import type { Descriptor } from './media-types';
import type { Layout } from './unpack';

/** What `list` shows for one pulled image; kept as info.json in the image's folder. */
export interface StoredImage {
  ref: string;
  /** digest of the manifest, the one to pin an image by */
  digest: string;
  layout: Layout;
  /** sha256 of filter.wasm, the value WasmPlugin's `sha256` field wants */
  wasmSha256: string;
  size: number;
  pulledAt: string;
}

export interface ImageToStore {
  ref: string;
  manifest: Buffer;
  layer: Descriptor;
  wasm: Buffer;
  runtimeConfig?: Buffer;
  layout: Layout;
  now: Date;
}

export function defaultStoreDir(env: NodeJS.ProcessEnv): string {
  return env.MESHA_STORE || join(homedir(), '.mesha', 'store');
}

/** One folder per reference, named by the sha256 of the canonical reference. */
export function imageDir(storeDir: string, canonicalRef: string): string {
  return join(storeDir, sha256Hex(Buffer.from(canonicalRef, 'utf8')));
}

/** The file operations saveImage's swap uses; tests inject a failing one. */
export interface StoreFsOps {
  rename(from: string, to: string): Promise<void>;
}

/**
 * Writes every file into a temporary folder beside the final one and renames it into place, so a reader sees the
 * old image or the new one, never half of either. Digests are verified before this is called.
 */
export async function saveImage(
  storeDir: string,
  image: ImageToStore,
  fsOps: StoreFsOps = { rename },
): Promise<string> {
  const target = imageDir(storeDir, image.ref);
  const info: StoredImage = {
    ref: image.ref,
    digest: digestOf(image.manifest),
    layout: image.layout,
    wasmSha256: sha256Hex(image.wasm),
    size: image.wasm.length,
    pulledAt: image.now.toISOString(),
  };
  let tmp: string | undefined;
  try {
    await mkdir(storeDir, { recursive: true });
    tmp = await mkdtemp(join(storeDir, '.tmp-'));
    await writeFile(join(tmp, 'image_ref'), image.ref + '\n');
    await writeFile(join(tmp, 'descriptor.json'), JSON.stringify(image.layer, null, 2) + '\n');
    await writeFile(join(tmp, 'manifest.json'), image.manifest);
    await writeFile(join(tmp, 'filter.wasm'), image.wasm);
    if (image.runtimeConfig) await writeFile(join(tmp, 'runtime-config.json'), image.runtimeConfig);
    await writeFile(join(tmp, 'info.json'), JSON.stringify(info, null, 2) + '\n');
    const old = `${tmp}.old`;
    const replaced = await fsOps.rename(target, old).then(
      () => true,
      (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return false;
        throw err;
      },
    );
    try {
      await fsOps.rename(tmp, target);
    } catch (err) {
      // Put the previous image back so a failed pull leaves the store as it was.
      if (replaced) await fsOps.rename(old, target);
      throw err;
    }
    tmp = undefined;
    if (replaced) await rm(old, { recursive: true, force: true });
    return target;
  } catch (err) {
    throw new OciError('io', `cannot write the store at ${storeDir}: ${(err as Error).message}`);
  } finally {
    if (tmp) await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
  }
}

/** Every complete image in the store, newest first; unreadable folders are skipped. */
export async function listImages(storeDir: string): Promise<StoredImage[]> {
  let names: string[];
  try {
    names = await readdir(storeDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new OciError('io', `cannot read the store at ${storeDir}: ${(err as Error).message}`);
  }
  const images: StoredImage[] = [];
  for (const name of names.filter((n) => /^[a-f0-9]{64}$/.test(n))) {
    try {
      images.push(
        JSON.parse(await readFile(join(storeDir, name, 'info.json'), 'utf8')) as StoredImage,
      );
    } catch {
      // A folder someone else put there: not ours to list.
    }
  }
  return images.sort((a, b) => b.pulledAt.localeCompare(a.pulledAt));
}
