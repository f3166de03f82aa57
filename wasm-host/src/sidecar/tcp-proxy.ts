import { connect, createServer, type Server, type Socket } from 'node:net';
import { LogLevel } from '../abi';
import { PeerType } from '../contexts';
import type { SidecarHost } from './sidecar-host';
import type { ConnectionSink } from '../network-stream';
import type { StreamProperties } from '../istio/stream-properties';
import type { LogEntry } from '../types';
import { drained } from './drained';
import type { Address } from './options';

/** Writes with backpressure: resolves once `socket` takes more (or is gone). */
function write(socket: Socket, chunk: Buffer, other: Socket): void | Promise<void> {
  if (socket.destroyed || socket.writableEnded) return;
  if (socket.write(chunk)) return;
  other.pause();
  return drained(socket).then(() => {
    other.resume();
  });
}

/**
 * The sidecar's TCP mode (Envoy's tcp_proxy behind a Wasm network filter): every accepted connection is
 * forwarded to `upstream`, its bytes passing the plugin's network filter both ways (round-robin over the
 * VMs), with Istio's view of the connection from `properties`. Without a plugin, bytes are piped as
 * they are. An unreachable upstream closes the client.
 */
export function createTcpProxy(
  host: SidecarHost | undefined,
  upstream: Address,
  listen: () => string,
  log: (e: LogEntry) => void,
  properties: () => StreamProperties | undefined = () => undefined,
): Server {
  const server = createServer((down) => {
    const up = connect(upstream.port, upstream.host);
    const sink: ConnectionSink = {
      toUpstream: (chunk) => write(up, chunk, down),
      toDownstream: (chunk) => write(down, chunk, up),
      endUpstream: () => up.end(),
      endDownstream: () => down.end(),
      closeDownstream: () => down.end(() => down.destroy()),
      closeUpstream: () => up.end(() => up.destroy()),
    };
    const conn = host?.openConnection(sink, {
      sourceAddress: `${down.remoteAddress ?? '127.0.0.1'}:${down.remotePort ?? 0}`,
      destinationAddress: listen(),
      properties: properties(),
    });
    void Promise.resolve(conn ? conn.start() : true).then((ok) => {
      if (!ok) up.destroy();
    });
    down.on('data', (c: Buffer) => (conn ? conn.downstreamData(c, false) : write(up, c, down)));
    down.on('end', () => (conn ? conn.downstreamData(Buffer.alloc(0), true) : up.end()));
    up.on('data', (c: Buffer) => (conn ? conn.upstreamData(c, false) : write(down, c, up)));
    up.on('end', () => (conn ? conn.upstreamData(Buffer.alloc(0), true) : down.end()));
    up.on('error', (err) => {
      log({
        vm: 0,
        level: LogLevel.WARN,
        message: `tcp upstream ${upstream.host}:${upstream.port}: ${err.message}`,
      });
      down.destroy();
    });
    down.on('error', () => up.destroy());
    up.on('close', () => {
      conn?.upstreamConnectionClosed(PeerType.REMOTE);
      if (!down.destroyed) down.end();
    });
    down.on('close', (hadError) => {
      conn?.downstreamConnectionClosed(hadError ? PeerType.UNKNOWN : PeerType.REMOTE);
      up.destroy();
    });
  });
  return server;
}
