import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';

/** Bigger than any sane reporter build; a larger file is refused rather than held in memory. */
export const MAX_FILTER_BYTES = 64 * 1024 * 1024;

/** The reporter build mesha serves, read once at start-up. */
export type FilterArtifact =
  | { available: true; bytes: Buffer; sha256: string; etag: string }
  | { available: false; reason: string };

export async function loadFilterArtifact(path: string): Promise<FilterArtifact> {
  try {
    const info = await stat(path);
    if (!info.isFile()) return { available: false, reason: `${path} is not a file` };
    if (info.size > MAX_FILTER_BYTES) {
      return { available: false, reason: `${path} is larger than ${MAX_FILTER_BYTES} bytes` };
    }
    const bytes = await readFile(path);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    return { available: true, bytes, sha256, etag: `"${sha256}"` };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    return { available: false, reason: `no reporter build at ${path} (${code})` };
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
