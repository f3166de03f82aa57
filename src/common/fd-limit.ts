import { readFileSync } from 'node:fs';

/** Descriptors kept free for what is not a client connection: logs, files, the listener, DNS. */
export const RESERVED_DESCRIPTORS = 128;

/** The soft limit on open files of this process (Linux /proc/self/limits), if known. */
export function openFilesLimit(
  read: () => string = () => readFileSync('/proc/self/limits', 'utf8'),
): number | undefined {
  try {
    const match = /^Max open files\s+(\d+)/m.exec(read());
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * MAX_CONNECTIONS, lowered to what the file-descriptor limit allows: connections past the limit
 * would fail with EMFILE instead of being refused and counted.
 */
export function effectiveMaxConnections(configured: number, fdLimit = openFilesLimit()): number {
  if (fdLimit === undefined) return configured;
  return Math.max(1, Math.min(configured, fdLimit - RESERVED_DESCRIPTORS));
}
