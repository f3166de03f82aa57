import { parseArgs } from 'node:util';
import { LogLevel } from '../abi';
import type { FailStrategy } from '../types';
import { parseClusterFlags } from './cluster-flags';
import {
  ISTIO_FLAG_SPECS,
  ISTIO_USAGE,
  parseIstioFlags,
  type IstioSidecarOptions,
} from '../istio/sidecar-istio';

export interface Address {
  host: string;
  port: number;
}

export interface SidecarOptions {
  /** Absent: a plain proxy (useful as a baseline). */
  wasm?: string;
  pluginConfig: string;
  vmConfig: string;
  clusters: Record<string, string[]>;
  listen: Address;
  admin: Address;
  upstream: URL;
  /** How long the upstream may take to answer in full before the sidecar answers 504; 0 = no limit. */
  upstreamTimeoutMs: number;
  concurrency: number;
  nodeMetadata: Record<string, string>;
  pluginName: string;
  rootId: string;
  vmId: string;
  logLevel: LogLevel;
  failStrategy: FailStrategy;
  /** What Istio puts around the plugin (wasm-host/src/istio/sidecar-istio.ts). */
  istio: IstioSidecarOptions;
  /** Largest body a plugin may buffer or produce (413 / 500 past it). */
  bufferLimitBytes: number;
  /** A stream idle this long ends (Envoy's stream_idle_timeout); 0 = never. */
  streamIdleTimeoutMs: number;
  /** TCP mode: connections are forwarded to this address through the plugin's network filter. */
  tcpUpstream?: Address;
  /** false (--in-process): every VM on the main thread, no watchdog (a baseline for bench:host). */
  workerThreads: boolean;
  /** A callback running longer than this fails its VM; 0 = no watchdog. */
  watchdogMs: number;
  /** Largest linear memory per VM. */
  maxMemoryBytes: number;
}

/** A bad command line; the CLI prints it with the usage text and exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export const USAGE = `usage: npm run sidecar -- --upstream URL [options]
  --wasm FILE               proxy-wasm plugin to run on every request (omit for a plain proxy)
  --config STRING           plugin configuration (buffer 7), e.g. JSON
  --vm-config STRING        VM configuration (buffer 6)
  --cluster NAME=URL[,URL]  cluster for proxy_http_call (repeatable; several URLs: ring hash on :authority)
  --listen HOST:PORT        proxy address (default 127.0.0.1:15001; port 0 = any free port)
  --admin HOST:PORT         admin address with /stats and /ready (default 127.0.0.1:15000)
  --upstream URL            where requests are forwarded, e.g. http://127.0.0.1:8080
                            (with --tcp: HOST:PORT or tcp://HOST:PORT)
  --tcp                     TCP mode: forward connections through the plugin's network filter
  --watchdog-ms N           fail a VM whose callback runs longer than N ms (default 10000; 0 = off)
  --max-memory-bytes N      linear memory cap per VM (default 1073741824, Envoy's 1 GiB)
  --in-process              run every VM on the main thread (no worker threads, no watchdog)
  --upstream-timeout-ms N   answer 504 when the upstream has not answered in full by then
                            (default 15000, Envoy's route timeout; 0 = no limit)
  --concurrency N           VMs, like Envoy worker threads (default 2)
  --node-metadata KEY=VALUE node.metadata.KEY property (repeatable)
  --plugin-name NAME        plugin_name property (default: the root id)
  --root-id ID              plugin_root_id property (default '')
  --vm-id ID                plugin_vm_id property (default '')
  --log-level LEVEL         trace|debug|info|warn|error|critical (default info)
  --fail-strategy S         FAIL_CLOSE (default) or FAIL_OPEN
${ISTIO_USAGE}
  --buffer-limit-bytes N    largest body a plugin may buffer or produce (default 1048576, Envoy's
                            per-connection buffer limit); past it 413 (request) / 500 (response)
  --stream-idle-timeout-ms N  end a stream idle this long: 408, or a reset once the answer started
                            (default 300000, Envoy's stream_idle_timeout; 0 = never)
  --help                    this text`;

const LEVELS: Record<string, LogLevel> = {
  trace: LogLevel.TRACE,
  debug: LogLevel.DEBUG,
  info: LogLevel.INFO,
  warn: LogLevel.WARN,
  error: LogLevel.ERROR,
  critical: LogLevel.CRITICAL,
};

function parseAddress(flag: string, value: string): Address {
  const match = /^([^:]+|\[[^\]]+\]):(\d{1,5})$/.exec(value);
  const port = match ? Number(match[2]) : NaN;
  if (!match || port > 65535) throw new UsageError(`--${flag}: expected HOST:PORT, got "${value}"`);
  return { host: match[1].replace(/^\[|\]$/g, ''), port };
}

function parsePairs(flag: string, values: string[]): Record<string, string> {
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const v of values) {
    const i = v.indexOf('=');
    if (i <= 0) throw new UsageError(`--${flag}: expected NAME=VALUE, got "${v}"`);
    const key = v.slice(0, i);
    if (key === '__proto__' || key === 'constructor' || key === 'prototype') {
      throw new UsageError(`--${flag}: "${key}" is not an allowed name`);
    }
    out[key] = v.slice(i + 1);
  }
  return out;
}

function parseHttpUrl(flag: string, value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`--${flag}: "${value}" is not a URL`);
  }
  if (url.protocol !== 'http:') throw new UsageError(`--${flag}: only http:// URLs are supported`);
  return url;
}

/** A non-negative integer flag (milliseconds, bytes) of at most 9 digits, or its default. */
function count(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^\d{1,9}$/.test(value)) {
    throw new UsageError(`--${flag}: expected an integer 0..999999999, got "${value}"`);
  }
  return Number(value);
}

/** Parses the sidecar's command line; throws UsageError naming the offending flag. */
export function parseSidecarArgs(argv: string[]): SidecarOptions | 'help' {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        wasm: { type: 'string' },
        config: { type: 'string' },
        'vm-config': { type: 'string' },
        cluster: { type: 'string', multiple: true },
        listen: { type: 'string' },
        admin: { type: 'string' },
        upstream: { type: 'string' },
        'upstream-timeout-ms': { type: 'string' },
        concurrency: { type: 'string' },
        'node-metadata': { type: 'string', multiple: true },
        'plugin-name': { type: 'string' },
        'root-id': { type: 'string' },
        'vm-id': { type: 'string' },
        'log-level': { type: 'string' },
        'fail-strategy': { type: 'string' },
        'buffer-limit-bytes': { type: 'string' },
        'stream-idle-timeout-ms': { type: 'string' },
        tcp: { type: 'boolean' },
        'watchdog-ms': { type: 'string' },
        'max-memory-bytes': { type: 'string' },
        'in-process': { type: 'boolean' },
        help: { type: 'boolean' },
        ...ISTIO_FLAG_SPECS,
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return 'help';
  if (values.upstream === undefined) throw new UsageError('--upstream is required');
  const concurrency = Number(values.concurrency ?? '2');
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) {
    throw new UsageError(`--concurrency: expected an integer 1..64, got "${values.concurrency}"`);
  }
  const upstreamTimeoutMs = count('upstream-timeout-ms', values['upstream-timeout-ms'], 15000);
  const level = values['log-level'] ?? 'info';
  if (!Object.hasOwn(LEVELS, level)) throw new UsageError(`--log-level: unknown level "${level}"`);
  const fail = values['fail-strategy'] ?? 'FAIL_CLOSE';
  if (fail !== 'FAIL_CLOSE' && fail !== 'FAIL_OPEN') {
    throw new UsageError(`--fail-strategy: expected FAIL_CLOSE or FAIL_OPEN, got "${fail}"`);
  }
  const clusters = parseClusterFlags(
    values.cluster ?? [],
    (url) => parseHttpUrl('cluster', url),
    (message) => new UsageError(message),
  );
  const rootId = values['root-id'] ?? '';
  let istio: IstioSidecarOptions;
  try {
    istio = parseIstioFlags(values);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (istio.peerMetadata && !values.tcp) {
    throw new UsageError(
      '--peer-metadata-json: only with --tcp (HTTP learns the peer by --metadata-exchange)',
    );
  }
  const tcpUpstream = values.tcp
    ? parseAddress('upstream', values.upstream.replace(/^tcp:\/\//, ''))
    : undefined;
  return {
    wasm: values.wasm,
    pluginConfig: values.config ?? '',
    vmConfig: values['vm-config'] ?? '',
    clusters,
    listen: parseAddress('listen', values.listen ?? '127.0.0.1:15001'),
    admin: parseAddress('admin', values.admin ?? '127.0.0.1:15000'),
    // In TCP mode the HTTP upstream URL only names the same address (it is not used for requests).
    upstream: tcpUpstream
      ? new URL(
          `http://${tcpUpstream.host.includes(':') ? `[${tcpUpstream.host}]` : tcpUpstream.host}:${tcpUpstream.port}`,
        )
      : parseHttpUrl('upstream', values.upstream),
    tcpUpstream,
    upstreamTimeoutMs,
    concurrency,
    nodeMetadata: parsePairs('node-metadata', values['node-metadata'] ?? []),
    pluginName: values['plugin-name'] ?? rootId,
    rootId,
    vmId: values['vm-id'] ?? '',
    logLevel: LEVELS[level],
    failStrategy: fail,
    istio,
    bufferLimitBytes: count('buffer-limit-bytes', values['buffer-limit-bytes'], 1 << 20),
    streamIdleTimeoutMs: count('stream-idle-timeout-ms', values['stream-idle-timeout-ms'], 300_000),
    workerThreads: !values['in-process'],
    watchdogMs: count('watchdog-ms', values['watchdog-ms'], 10_000),
    maxMemoryBytes: count('max-memory-bytes', values['max-memory-bytes'], 1 << 30),
  };
}
