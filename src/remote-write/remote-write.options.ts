import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { AppConfig } from '../config/config.schema';
import type { PostTarget } from './http-post';
import type { RemoteWriterOptions } from './remote-writer';
import { REMOTE_WRITE_HEADERS, type Label } from './write-request';

/** Reads one validated setting. */
export type Setting = <K extends keyof AppConfig>(name: K) => AppConfig[K];

export interface RemoteWriteOptions {
  target: PostTarget;
  writer: RemoteWriterOptions;
  intervalMs: number;
  /** External labels and the replica label, added to every series. */
  labels: Label[];
  /** Time the final flush leaves unused at the end of the shutdown grace. */
  flushMarginMs: number;
  graceMs: number;
  delayMs: number;
}

/**
 * The remote-write settings as the writer uses them, or undefined when REMOTE_WRITE_URL is unset.
 * Reads REMOTE_WRITE_TLS_CA_FILE once (at start-up: an unreadable file stops mesha).
 */
export function remoteWriteOptions(setting: Setting): RemoteWriteOptions | undefined {
  const url = setting('REMOTE_WRITE_URL');
  if (url === undefined) return undefined;
  const headers: Record<string, string> = { ...REMOTE_WRITE_HEADERS, 'User-Agent': 'mesha' };
  for (const [name, value] of setting('REMOTE_WRITE_HEADERS')) headers[name] = value;
  if (setting('REMOTE_WRITE_BEARER_TOKEN') !== undefined) {
    headers.Authorization = `Bearer ${setting('REMOTE_WRITE_BEARER_TOKEN')}`;
  } else if (
    setting('REMOTE_WRITE_BASIC_AUTH_USERNAME') !== undefined &&
    setting('REMOTE_WRITE_BASIC_AUTH_PASSWORD') !== undefined
  ) {
    const pair = `${setting('REMOTE_WRITE_BASIC_AUTH_USERNAME')}:${setting('REMOTE_WRITE_BASIC_AUTH_PASSWORD')}`;
    headers.Authorization = `Basic ${Buffer.from(pair, 'utf8').toString('base64')}`;
  }
  const caFile = setting('REMOTE_WRITE_TLS_CA_FILE');
  let ca: string | undefined;
  if (caFile !== undefined) {
    try {
      ca = readFileSync(caFile, 'utf8');
    } catch (err) {
      throw new Error(`REMOTE_WRITE_TLS_CA_FILE: cannot read ${caFile}: ${(err as Error).message}`);
    }
  }
  return {
    target: {
      url: new URL(url),
      headers,
      timeoutMs: setting('REMOTE_WRITE_TIMEOUT_MS'),
      ca,
      rejectUnauthorized: !setting('REMOTE_WRITE_TLS_INSECURE_SKIP_VERIFY'),
    },
    writer: {
      batchSamples: setting('REMOTE_WRITE_BATCH_SAMPLES'),
      queueSamples: setting('REMOTE_WRITE_QUEUE_SAMPLES'),
      minBackoffMs: setting('REMOTE_WRITE_MIN_BACKOFF_MS'),
      maxBackoffMs: setting('REMOTE_WRITE_MAX_BACKOFF_MS'),
      timeoutMs: setting('REMOTE_WRITE_TIMEOUT_MS'),
    },
    intervalMs: setting('REMOTE_WRITE_INTERVAL_SECONDS') * 1000,
    labels: [
      ...setting('REMOTE_WRITE_EXTERNAL_LABELS').map(([name, value]) => ({ name, value })),
      {
        name: setting('REMOTE_WRITE_REPLICA_LABEL'),
        value: setting('REMOTE_WRITE_REPLICA') ?? hostname(),
      },
    ],
    flushMarginMs: setting('REMOTE_WRITE_FLUSH_MARGIN_MS'),
    graceMs: setting('SHUTDOWN_GRACE_MS'),
    delayMs: setting('SHUTDOWN_DELAY_MS'),
  };
}

/** DI token of the RemoteWriteOptions (undefined when remote write is off). */
export const REMOTE_WRITE_OPTIONS = Symbol('REMOTE_WRITE_OPTIONS');
