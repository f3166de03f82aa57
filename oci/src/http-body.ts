import { networkCause } from './network-cause';
import { OciError, type OciErrorKind } from './errors';

export interface BodyLimit {
  /** bytes at most; a longer body (announced or sent) fails with `tooLarge` without reading the rest */
  maxBytes: number;
  /** what the body is, for messages: "manifest", "blob sha256:..." */
  what: string;
  tooLarge: OciErrorKind;
  /** sees every chunk as it arrives (a digest computed while streaming) */
  onChunk?: (chunk: Uint8Array) => void;
}

/**
 * Reads a response body, never more than `maxBytes`: a Content-Length over the cap fails before the first byte,
 * and a body that runs past it fails at the chunk that crosses it (leaving the loop cancels the stream, which
 * closes the connection). A connection that breaks or times out while reading is 'unreachable'.
 */
export async function readBody(res: Response, limit: BodyLimit): Promise<Buffer> {
  const announced = Number(res.headers.get('content-length') ?? NaN);
  if (Number.isFinite(announced) && announced > limit.maxBytes) {
    await discard(res);
    throw new OciError(
      limit.tooLarge,
      `${limit.what} is ${announced} bytes by its Content-Length, over the limit of ${limit.maxBytes}`,
    );
  }
  const chunks: Buffer[] = [];
  let total = 0;
  if (!res.body) return Buffer.alloc(0);
  try {
    for await (const chunk of res.body) {
      total += chunk.length;
      if (total > limit.maxBytes) {
        throw new OciError(limit.tooLarge, `${limit.what} is larger than ${limit.maxBytes} bytes`);
      }
      limit.onChunk?.(chunk);
      chunks.push(Buffer.from(chunk));
    }
  } catch (err) {
    if (err instanceof OciError) throw err;
    throw new OciError(
      'unreachable',
      `the connection broke while reading ${limit.what} (${total} bytes in): ${networkCause(err)}`,
    );
  }
  return Buffer.concat(chunks);
}

/**
 * The first `maxBytes` of a body whose content is only informative (an error response): the rest is never read,
 * and a failure while reading just ends the text.
 */
export async function readPrefix(res: Response, maxBytes: number): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    while (total < maxBytes) {
      const { done, value } = await reader.read();
      if (done) break;
      const part = Buffer.from(value.subarray(0, maxBytes - total));
      chunks.push(part);
      total += part.length;
    }
  } catch {
    // The text so far is all there is.
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Drops a body nobody reads, closing its stream (never throws: the body may already have failed). */
export async function discard(res: Response): Promise<void> {
  await res.body?.cancel().catch(() => undefined);
}
