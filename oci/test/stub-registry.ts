import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** How the stub answers one request; `send` may write as much as it likes, `socket` ends it however it likes. */
export type StubRoute = (req: IncomingMessage, res: ServerResponse, socket: Socket) => void;

/**
 * A hand-driven registry on a loopback port, for what a real registry never does: answers that never end, bodies
 * cut mid-way, escape sequences in its text. It counts the body bytes it managed to write, so a test can tell how
 * much of an endless answer the client took.
 */
export interface StubRegistry {
  host: string;
  /** body bytes handed to sockets so far (what the client could at most have read) */
  bytesWritten(): number;
  close(): Promise<void>;
}

export async function startStubRegistry(
  route: (path: string) => StubRoute | undefined,
): Promise<StubRegistry> {
  let written = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    const handler = route(new URL(req.url ?? '/', 'http://stub').pathname);
    if (!handler) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"errors":[{"code":"NAME_UNKNOWN","message":"not here"}]}');
      return;
    }
    const write = res.write.bind(res) as (chunk: Buffer) => boolean;
    res.write = ((chunk: Buffer) => {
      written += chunk.length;
      return write(chunk);
    }) as typeof res.write;
    handler(req, res, req.socket);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('stub has no port');
  return {
    host: `127.0.0.1:${address.port}`,
    bytesWritten: () => written,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * Writes `chunk` again and again, as fast as the client takes it, until `total` bytes or the connection closes:
 * an "endless" body that costs the stub no memory. Resolves `cut` when the client hung up before the end.
 */
export function streamEndlessly(
  res: ServerResponse,
  chunk: Buffer,
  total: number,
): Promise<'cut' | 'finished'> {
  let sent = 0;
  const pump = () => {
    while (sent < total && !res.destroyed) {
      sent += chunk.length;
      if (!res.write(chunk)) {
        res.once('drain', pump);
        return;
      }
    }
    if (!res.destroyed) res.end();
  };
  const outcome = new Promise<'cut' | 'finished'>((resolve) =>
    res.on('close', () => {
      res.removeListener('drain', pump);
      resolve(res.writableFinished ? 'finished' : 'cut');
    }),
  );
  pump();
  return outcome;
}

/** A 1.5 GB answer: what a broken or hostile registry may send. */
export const HUGE_BYTES = 1.5 * 1024 * 1024 * 1024;
