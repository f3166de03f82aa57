import { createHash } from 'node:crypto';

export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** `sha256:<hex>`, the form OCI descriptors and the distribution API use. */
export function digestOf(data: Uint8Array): string {
  return `sha256:${sha256Hex(data)}`;
}
