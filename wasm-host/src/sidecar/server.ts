import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Server as NetServer, Socket } from 'node:net';
import { LogLevel } from '../abi';
import type { HeaderPairs } from '../header-map';
import { ProxyWasmHost } from '../host';
import { WorkerHost, type WorkerHostOptions } from '../workers/worker-host';
import type { StreamInput, StreamSink } from '../http-stream';
import { istioHostOptions, SidecarIstio } from '../istio/sidecar-istio';
import type { StreamProperties } from '../istio/stream-properties';
import type { LogEntry } from '../types';
import type { SidecarOptions } from './options';
import { drained } from './drained';
import { PlainStream } from './plain-stream';
import type { SidecarHost } from './sidecar-host';
import { statsPrometheus, statsText } from './stats';
import { createTcpProxy } from './tcp-proxy';
import {
  HOP_BY_HOP,
  pairsOf,
  UpstreamClient,
  type UpstreamEvents,
  type UpstreamExchange,
} from './upstream';

export interface RunningSidecar {
  readonly port: number;
  readonly adminPort: number;
  readonly host: SidecarHost | undefined;
  close(): Promise<void>;
}

const LEVEL_NAMES = ['trace', 'debug', 'info', 'warn', 'error', 'critical'];

/** Envoy's log prefix: " <plugin name> <root id> <vm id>", empty parts left out. */
function logPrefix(o: SidecarOptions): string {
  return [o.pluginName, o.rootId, o.vmId]
    .filter((p) => p !== '')
    .map((p) => ` ${p}`)
    .join('');
}

/** Connections a server accepted and still has open, so closing it can end them (HTTP or TCP). */
const openSockets = new WeakMap<NetServer, Set<Socket>>();

function track(server: NetServer): void {
  const sockets = new Set<Socket>();
  openSockets.set(server, sockets);
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
}

function listen(server: NetServer, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: NetServer): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    for (const socket of openSockets.get(server) ?? []) socket.destroy();
  });
}

/**
 * The local sidecar: an HTTP proxy that runs the plugin (if any) on every request it forwards, spreading
 * requests over the VMs round-robin like Envoy's workers, plus an admin server with /stats and /ready.
 */
export async function startSidecar(
  options: SidecarOptions,
  print: (line: string) => void,
): Promise<RunningSidecar> {
  const prefix = logPrefix(options);
  const stamp = () => new Date().toISOString();
  const pluginLine = (e: LogEntry) =>
    print(
      `[${stamp()}][worker ${e.vm}][${LEVEL_NAMES[e.level]}][wasm] wasm log${prefix}: ${e.message}`,
    );
  const hostLine = (e: LogEntry) =>
    print(`[${stamp()}][worker ${e.vm}][${LEVEL_NAMES[e.level]}][wasm] wasm host: ${e.message}`);

  const hostOptions: WorkerHostOptions = {
    wasm: options.wasm ?? '',
    pluginConfig: options.pluginConfig,
    vmConfig: options.vmConfig,
    concurrency: options.concurrency,
    clusters: options.clusters,
    nodeMetadata: options.nodeMetadata,
    pluginName: options.pluginName,
    rootId: options.rootId,
    vmId: options.vmId,
    logLevel: options.logLevel,
    failStrategy: options.failStrategy,
    ...istioHostOptions(options.istio),
    bufferLimitBytes: options.bufferLimitBytes,
    streamIdleTimeoutMs: options.streamIdleTimeoutMs,
    maxMemoryBytes: options.maxMemoryBytes,
    watchdogMs: options.watchdogMs,
    autoTick: true,
    onLog: pluginLine,
    onHostLog: (e) => {
      if (e.level >= LogLevel.INFO) hostLine(e);
    },
  };
  const host: SidecarHost | undefined = !options.wasm
    ? undefined
    : options.workerThreads
      ? await WorkerHost.start(hostOptions)
      : await ProxyWasmHost.start(hostOptions);
  const upstream = new UpstreamClient(options.upstream, options.upstreamTimeoutMs);
  const counters = {
    'http.sidecar.downstream_rq_total': 0,
    'http.sidecar.downstream_rq_local_reply': 0,
  };
  let listenPort = options.listen.port;

  const hooksFor = streamHooks(options);
  const openStream = (sink: StreamSink, req: IncomingMessage): StreamInput =>
    host
      ? host.openStream(sink, {
          sourceAddress: `${req.socket.remoteAddress ?? '127.0.0.1'}:${req.socket.remotePort ?? 0}`,
          destinationAddress: `${options.listen.host}:${listenPort}`,
        })
      : new PlainStream(sink);

  const httpProxy = () =>
    createServer((req, res) => {
      counters['http.sidecar.downstream_rq_total']++;
      const path = req.url ?? '/';
      if (!path.startsWith('/')) {
        // Absolute-form ("http://host/x") and other targets could name another host; the upstream is fixed.
        req.resume();
        res
          .writeHead(400, { 'content-type': 'text/plain' })
          .end('bad request target: expected a path starting with "/"\n');
        return;
      }
      const stream = proxyStream(req, res, path, options, upstream, hooksFor(), openStream, (e) =>
        hostLine(e),
      );
      void stream.done.then((end) => {
        if (end.localReply) counters['http.sidecar.downstream_rq_local_reply']++;
      });
    });
  const proxy: NetServer = options.tcpUpstream
    ? createTcpProxy(
        host,
        options.tcpUpstream,
        () => `${options.listen.host}:${listenPort}`,
        hostLine,
        tcpProperties(options),
      )
    : httpProxy();
  if (!options.tcpUpstream) (proxy as ReturnType<typeof httpProxy>).keepAliveTimeout = 60_000;
  track(proxy);

  const admin = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://admin');
    if (url.pathname === '/ready') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('LIVE\n');
    } else if (url.pathname === '/stats') {
      void (async () => {
        const series = (await host?.metricSeries()) ?? [];
        const own: Record<string, number> = {
          ...counters,
          'wasm.host_calls': (await host?.hostCallCount()) ?? 0,
        };
        if (url.searchParams.get('format') === 'prometheus') {
          res
            .writeHead(200, { 'content-type': 'text/plain; version=0.0.4' })
            .end(statsPrometheus(series));
        } else {
          res.writeHead(200, { 'content-type': 'text/plain' }).end(statsText(series, own));
        }
      })().catch(() => res.destroy());
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /stats or /ready\n');
    }
  });
  track(admin);

  try {
    listenPort = await listen(proxy, options.listen.host, options.listen.port);
    const adminPort = await listen(admin, options.admin.host, options.admin.port);
    return {
      port: listenPort,
      adminPort,
      host,
      async close() {
        await Promise.all([closeServer(proxy), closeServer(admin)]);
        upstream.close();
        await host?.close();
      },
    };
  } catch (err) {
    await Promise.all([closeServer(proxy), closeServer(admin)]);
    upstream.close();
    await host?.close();
    throw err;
  }
}

/**
 * Per-stream hooks for emulations (e.g. Istio's metadata exchange): the one place where headers can be
 * changed as they arrive from the downstream / upstream (before the plugin sees them) and as they leave
 * towards the upstream / downstream (after it). Absent hooks change nothing.
 */
export interface StreamHooks {
  /** The stream's properties as the emulation learns them (handed to the plugin's stream). */
  properties?: StreamProperties;
  /** The upstream could not be reached (Envoy records the UF flag). */
  upstreamFailed?(): void;
  requestHeadersFromDownstream?(headers: HeaderPairs): HeaderPairs;
  requestHeadersToUpstream?(headers: HeaderPairs): HeaderPairs;
  responseHeadersFromUpstream?(headers: HeaderPairs): HeaderPairs;
  responseHeadersToDownstream?(headers: HeaderPairs): HeaderPairs;
}

/** Per TCP connection, the properties Istio's flags describe (mTLS, --peer-metadata-json). */
function tcpProperties(options: SidecarOptions): () => StreamProperties {
  const istio = new SidecarIstio(options.istio, options.nodeMetadata);
  return () => istio.connection();
}

/** Per stream, the hooks the sidecar's options ask for; emulations add theirs here. */
export function streamHooks(options: SidecarOptions): () => StreamHooks {
  // What Istio puts around the plugin (--listener-direction, --metadata-exchange, --mtls, ...);
  // without those flags every hook passes headers through unchanged.
  const istio = new SidecarIstio(options.istio, options.nodeMetadata);
  return () => {
    const s = istio.stream();
    return {
      properties: s.properties,
      upstreamFailed: () => s.upstreamFailed(),
      requestHeadersFromDownstream: (h) => s.request(h),
      responseHeadersFromUpstream: (h) =>
        s.upstreamResponse({ status: 0, headers: h }).headers ?? h,
      responseHeadersToDownstream: (h) => s.responseHeaders(h),
    };
  };
}

/** Request headers as Envoy's connection manager hands them to filters: pseudo-headers first. */
function downstreamRequestHeaders(
  req: IncomingMessage,
  path: string,
  options: SidecarOptions,
): HeaderPairs {
  const headers: HeaderPairs = [
    [':method', req.method ?? 'GET'],
    [':path', path],
    [':authority', req.headers.host ?? options.upstream.host],
    [':scheme', 'http'],
  ];
  // content-length stays visible to the plugin, as in Envoy; the forwarded request is re-framed.
  headers.push(...pairsOf(req.rawHeaders, (k) => HOP_BY_HOP.has(k) || k === 'host'));
  // Like Envoy's HTTP connection manager: a request id and the forwarded protocol.
  if (!headers.some(([k]) => k === 'x-request-id')) headers.push(['x-request-id', randomUUID()]);
  const forwardedProto = headers.findIndex(([k]) => k === 'x-forwarded-proto');
  if (forwardedProto >= 0) headers.splice(forwardedProto, 1);
  headers.push(['x-forwarded-proto', 'http']);
  return headers;
}

/**
 * One proxied request, streamed both ways: request chunks go to the plugin and on to the upstream as
 * they arrive, the answer likewise back to the client; reading pauses while a stream holds a buffer
 * limit of input. A client that goes away ends the stream (on_done, on_log, on_delete run).
 */
function proxyStream(
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  options: SidecarOptions,
  upstream: UpstreamClient,
  hooks: StreamHooks,
  open: (sink: StreamSink, req: IncomingMessage) => StreamInput,
  log: (e: LogEntry) => void,
): StreamInput {
  let exchange: UpstreamExchange | undefined;
  const isHead = req.method === 'HEAD';
  const events: UpstreamEvents = {
    headers: (h, eos) => {
      const learned = hooks.responseHeadersFromUpstream?.(h) ?? h;
      syncProperties();
      stream.responseHeaders(learned, eos);
      if (!stream.writable) exchange?.pause();
    },
    data: (chunk, eos) => {
      stream.responseData(chunk, eos);
      if (!stream.writable) exchange?.pause();
    },
    trailers: (t) => stream.responseTrailers(t),
    failed: (kind) => {
      hooks.upstreamFailed?.();
      syncProperties();
      if (kind === 'timeout') {
        stream.upstreamFailed(504, 'upstream request timeout', 'upstream_response_timeout');
      } else {
        stream.upstreamFailed();
      }
    },
  };
  const sink: StreamSink = {
    upstreamHeaders(headers, eos) {
      const out = hooks.requestHeadersToUpstream?.(headers) ?? headers;
      try {
        exchange = upstream.open(out, eos, events);
      } catch (err) {
        // A plugin's :path that is not a path fails like an unreachable upstream.
        log({ vm: 0, level: LogLevel.WARN, message: `upstream request refused: ${String(err)}` });
        hooks.upstreamFailed?.();
        syncProperties();
        stream.upstreamFailed();
      }
    },
    upstreamData: (chunk, eos) => exchange?.write(chunk, eos),
    upstreamTrailers: (trailers) => exchange?.trailers(trailers),
    upstreamCancel: () => exchange?.cancel(),
    downstreamHeaders(headers, eos) {
      if (res.destroyed) return;
      const out = hooks.responseHeadersToDownstream?.(headers) ?? headers;
      const status = Number(out.find(([k]) => k === ':status')?.[1] ?? 502);
      const pairs = out.filter(([k]) => !k.startsWith(':') && !HOP_BY_HOP.has(k));
      // Answered before the request was complete (a local reply mid-upload): like Envoy's HTTP/1 codec,
      // close the connection after the answer instead of reading the rest of the upload first.
      if (!req.complete) res.shouldKeepAlive = false;
      res.writeHead(status, pairs.flat());
      if (eos || isHead) res.end();
    },
    downstreamData(chunk, eos) {
      if (res.destroyed || res.writableEnded) return;
      if (eos) {
        res.end(chunk);
        return;
      }
      if (chunk.length > 0 && !res.write(chunk)) return drained(res);
    },
    downstreamTrailers(trailers) {
      if (res.destroyed || res.writableEnded) return;
      res.addTrailers(Object.fromEntries(trailers));
      res.end();
    },
    downstreamReset: () => req.socket.destroy(),
  };
  const stream = open(sink, req);
  // The plugin's stream gets the emulation's properties each time they may have changed (a VM on a
  // worker thread holds a copy).
  const syncProperties = () => {
    if (hooks.properties) stream.setProperties(hooks.properties);
  };
  stream.onDrain = () => {
    req.resume();
    exchange?.resume();
  };
  // Whatever of the request is still coming once the stream ended is read and dropped.
  void stream.done.then(() => req.resume());
  res.on('close', () => {
    if (!res.writableFinished) stream.downstreamClosed();
  });

  const headers = downstreamRequestHeaders(req, path, options);
  const declared = req.headers['content-length'];
  const length = declared !== undefined && /^\d+$/.test(declared) ? Number(declared) : undefined;
  const chunked = req.headers['transfer-encoding'] !== undefined;
  const hasBody = chunked || (length !== undefined && length > 0);
  const fromDownstream = hooks.requestHeadersFromDownstream?.(headers) ?? headers;
  syncProperties();
  stream.requestHeaders(fromDownstream, !hasBody);
  if (!hasBody) {
    req.resume();
    return stream;
  }
  let received = 0;
  req.on('data', (chunk: Buffer) => {
    received += chunk.length;
    // With a content-length, the chunk that completes it carries end_of_stream (Envoy's HTTP/1 codec);
    // a chunked body ends with an empty one.
    stream.requestData(chunk, !chunked && received === length);
    if (!stream.writable) req.pause();
  });
  req.on('end', () => {
    const trailers = pairsOf(req.rawTrailers, () => false);
    if (trailers.length > 0) stream.requestTrailers(trailers);
    else if (chunked || received !== length) stream.requestData(Buffer.alloc(0), true);
  });
  return stream;
}
