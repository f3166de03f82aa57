import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';

/** Bigger than any sane reporter build; a larger file is refused rather than held in memory. */
export const MAX_FILTER_BYTES = 64 * 1024 * 1024;

/** Every WebAssembly binary starts with these four bytes (`\0asm`). */
const WASM_MAGIC = Buffer.from([0x00, 0x61, 0x73, 0x6d]);

/**
 * The reporter build mesha serves, read once at start-up. When it is not available, `reason` is
 * what clients are told (it names the setting, never a path of the server's file system) and
 * `path` goes to the start-up log only.
 */
export type FilterArtifact =
  | { available: true; bytes: Buffer; sha256: string; etag: string }
  | { available: false; reason: string; path: string };

export async function loadFilterArtifact(path: string): Promise<FilterArtifact> {
  const unavailable = (reason: string): FilterArtifact => ({ available: false, reason, path });
  try {
    const info = await stat(path);
    if (!info.isFile()) return unavailable('FILTER_WASM_PATH is not a file');
    if (info.size > MAX_FILTER_BYTES) {
      return unavailable(`FILTER_WASM_PATH is larger than ${MAX_FILTER_BYTES} bytes`);
    }
    const bytes = await readFile(path);
    if (!bytes.subarray(0, 4).equals(WASM_MAGIC)) {
      return unavailable('FILTER_WASM_PATH is not a WebAssembly module (no \\0asm magic bytes)');
    }
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    return { available: true, bytes, sha256, etag: `"${sha256}"` };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    return unavailable(`no reporter build at FILTER_WASM_PATH (${code})`);
  }
}

/** True when an If-None-Match header names this ETag (or `*`); weak validators count, as RFC 9110 says for GET. */
export function matchesEtag(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  return ifNoneMatch
    .split(',')
    .map((tag) => tag.trim().replace(/^W\//, ''))
    .some((tag) => tag === '*' || tag === etag);
}
