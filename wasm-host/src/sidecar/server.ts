import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { LogLevel } from '../abi';
import { ProxyWasmHost } from '../host';
import type { LogEntry, StreamResult } from '../types';
import type { SidecarOptions } from './options';
import { statsPrometheus, statsText } from './stats';
import { HOP_BY_HOP, UpstreamClient } from './upstream';

const MAX_REQUEST_BODY = 16 << 20;

export interface RunningSidecar {
  readonly port: number;
  readonly adminPort: number;
  readonly host: ProxyWasmHost | undefined;
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

function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_REQUEST_BODY) {
        resolve(undefined);
        req.resume();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function listen(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
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

  const host = options.wasm
    ? await ProxyWasmHost.start({
        wasm: options.wasm,
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
        autoTick: true,
        onLog: pluginLine,
        onHostLog: (e) => {
          if (e.level >= LogLevel.INFO) hostLine(e);
        },
      })
    : undefined;
  const upstream = new UpstreamClient(options.upstream, options.upstreamTimeoutMs);
  const counters = {
    'http.sidecar.downstream_rq_total': 0,
    'http.sidecar.downstream_rq_local_reply': 0,
  };
  let listenPort = options.listen.port;

  const send = (res: ServerResponse, result: StreamResult, req: IncomingMessage) => {
    if (result.reset) {
      req.socket.destroy();
      return;
    }
    const headers: Array<[string, string]> = result.headers.filter(([k]) => !HOP_BY_HOP.has(k));
    headers.push(['content-length', String(result.body.length)]);
    res.writeHead(result.status, headers.flat());
    res.end(req.method === 'HEAD' ? undefined : result.body);
  };

  const proxy = createServer((req, res) => {
    void (async () => {
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
      const body = await readBody(req);
      if (body === undefined) {
        res.writeHead(413, { 'content-type': 'text/plain' }).end('request body too large');
        return;
      }
      const headers: Array<[string, string]> = [];
      for (let i = 0; i < req.rawHeaders.length; i += 2) {
        const k = req.rawHeaders[i].toLowerCase();
        // content-length stays visible to the plugin, as in Envoy; the forwarded request is re-framed.
        if ((!HOP_BY_HOP.has(k) || k === 'content-length') && k !== 'host')
          headers.push([k, req.rawHeaders[i + 1]]);
      }
      // Like Envoy's HTTP connection manager: a request id and the forwarded protocol.
      if (!headers.some(([k]) => k === 'x-request-id'))
        headers.push(['x-request-id', randomUUID()]);
      const forwardedProto = headers.findIndex(([k]) => k === 'x-forwarded-proto');
      if (forwardedProto >= 0) headers.splice(forwardedProto, 1);
      headers.push(['x-forwarded-proto', 'http']);
      const request = {
        method: req.method ?? 'GET',
        path,
        authority: req.headers.host ?? options.upstream.host,
        headers,
        body,
      };
      const addresses = {
        sourceAddress: `${req.socket.remoteAddress ?? '127.0.0.1'}:${req.socket.remotePort ?? 0}`,
        destinationAddress: `${options.listen.host}:${listenPort}`,
      };
      const result: StreamResult = host
        ? await host.runStream(request, (fwd) => upstream.send(fwd), addresses)
        : await directStream(upstream, request);
      if (result.localReply) counters['http.sidecar.downstream_rq_local_reply']++;
      send(res, result, req);
    })().catch((err: unknown) => {
      hostLine({ vm: 0, level: LogLevel.ERROR, message: `request failed: ${String(err)}` });
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('internal error');
    });
  });
  proxy.keepAliveTimeout = 60_000;

  const admin = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://admin');
    if (url.pathname === '/ready') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('LIVE\n');
    } else if (url.pathname === '/stats') {
      const series = host?.metricSeries() ?? [];
      const own: Record<string, number> = {
        ...counters,
        'wasm.host_calls': host?.hostCallCount() ?? 0,
      };
      if (url.searchParams.get('format') === 'prometheus') {
        res
          .writeHead(200, { 'content-type': 'text/plain; version=0.0.4' })
          .end(statsPrometheus(series));
      } else {
        res.writeHead(200, { 'content-type': 'text/plain' }).end(statsText(series, own));
      }
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /stats or /ready\n');
    }
  });

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

async function directStream(
  upstream: UpstreamClient,
  request: {
    method: string;
    path: string;
    authority: string;
    headers: Array<[string, string]>;
    body: Buffer;
  },
): Promise<StreamResult> {
  const headers: Array<[string, string]> = [
    [':method', request.method],
    [':path', request.path],
    [':authority', request.authority],
    ...request.headers,
  ];
  try {
    const res = await upstream.send({ headers, body: request.body, trailers: [] });
    const body =
      typeof res.body === 'string' ? Buffer.from(res.body) : (res.body ?? Buffer.alloc(0));
    return {
      status: res.status,
      headers: res.headers ?? [],
      body,
      trailers: [],
      localReply: false,
      reset: false,
    };
  } catch {
    const body = Buffer.from(
      'upstream connect error or disconnect/reset before headers. reset reason: connection failure',
    );
    return {
      status: 503,
      headers: [['content-type', 'text/plain']],
      body,
      trailers: [],
      localReply: true,
      reset: false,
    };
  }
}
