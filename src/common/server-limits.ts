import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { STATUS_CODES } from 'node:http';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { Counter, Gauge, type Registry } from 'prom-client';
import { RefusalLog, type WarnSink } from './refusal-log';

/** Why a connection or request was refused before it reached a route: the `reason` label. */
export const REFUSAL_REASONS = [
  'max_connections',
  'timeout',
  'headers_too_large',
  'malformed',
  'body_bytes_in_flight',
] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

export interface ServerLimitSettings {
  maxConnections: number;
  maxBodyBytesInFlight: number;
}

/**
 * What keeps idle, slow and greedy clients from holding descriptors and memory: a connection cap
 * (past it, sockets are closed at once), client errors (timeouts, oversized headers, garbage)
 * answered and closed, and a bound on the request-body bytes being received across all connections.
 * Every refusal is counted in mesha_connections_refused_total{reason} and logged, rate-limited.
 * (Header and request timeouts are Node's own, set in app.factory.ts.)
 */
export class ServerLimits {
  private open = 0;
  private bodyBytesInFlight = 0;
  private sink: () => WarnSink | undefined = () => undefined;
  private readonly log = new RefusalLog(() => this.sink());
  private readonly refusedTotal = new Counter<'reason'>({
    name: 'mesha_connections_refused_total',
    help: 'Connections and requests refused before reaching a route, by reason',
    labelNames: ['reason'],
    registers: [],
  });

  constructor(readonly settings: ServerLimitSettings) {
    for (const reason of REFUSAL_REASONS) this.refusedTotal.inc({ reason }, 0);
  }

  /** Registers the self-metrics (the registry exists only once the application does). */
  register(registry: Registry, sink: () => WarnSink | undefined): void {
    this.sink = sink;
    registry.registerMetric(this.refusedTotal);
    const openNow = () => this.open;
    const bodyBytesNow = () => this.bodyBytesInFlight;
    new Gauge({
      name: 'mesha_connections_open',
      help: 'Open client connections',
      registers: [registry],
      collect() {
        this.set(openNow());
      },
    });
    new Gauge({
      name: 'mesha_body_bytes_in_flight',
      help: 'Request body bytes held (declared lengths reserved, chunked bodies as received) and not yet answered, over all connections',
      registers: [registry],
      collect() {
        this.set(bodyBytesNow());
      },
    });
  }

  /** Caps and counts the connections of `server`. */
  attach(server: Server): void {
    server.maxConnections = this.settings.maxConnections;
    server.on('connection', (socket: Socket) => {
      this.open++;
      socket.once('close', () => this.open--);
    });
    // Node closes the socket itself when maxConnections is reached, and says so here.
    server.on('drop', () =>
      this.refuse(
        'max_connections',
        `connection closed at once: MAX_CONNECTIONS (${this.settings.maxConnections}) open`,
      ),
    );
  }

  /** Fastify's clientErrorHandler: counts the refusal, answers JSON when it can, closes. */
  readonly clientErrorHandler = (err: NodeJS.ErrnoException, socket: Socket): void => {
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    const [reason, status, message]: [RefusalReason, number, string] =
      err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [
            'timeout',
            408,
            'the request was not received in time (HEADERS_TIMEOUT_MS / REQUEST_TIMEOUT_MS)',
          ]
        : err.code === 'HPE_HEADER_OVERFLOW'
          ? ['headers_too_large', 431, 'the request headers are too large']
          : ['malformed', 400, 'the request is not valid HTTP/1.1'];
    this.refuse(reason, message);
    if (socket.writable) {
      const body = JSON.stringify({ statusCode: status, error: STATUS_CODES[status], message });
      socket.write(
        `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\n` +
          `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
    }
    socket.destroy();
  };

  /**
   * Bounds the request body bytes held across all connections, released when the answer is sent: a
   * body with a Content-Length reserves it before a byte is read (Fastify refuses bodies that differ
   * from it), one without (chunked) is counted chunk by chunk. A body that would take the total past
   * MAX_BODY_BYTES_IN_FLIGHT gets 503 (Retry-After, Connection: close) instead of being buffered.
   * Reserving up front costs no stream per request, and a reservation is never less than what the
   * body will hold; a client that declares a length and then stalls holds it until
   * REQUEST_TIMEOUT_MS, as a stalled sender held its bytes before.
   */
  limitBodies(fastify: FastifyInstance): void {
    fastify.addHook('preParsing', (request, reply, payload, done) => {
      const declared = request.headers['content-length'];
      if (declared !== undefined) {
        const bytes = Number(declared);
        if (!(bytes > 0)) return done(null, payload); // 0, or malformed: Fastify answers that
        if (this.bodyBytesInFlight + bytes > this.settings.maxBodyBytesInFlight) {
          return done(this.bodyRefusal(reply));
        }
        this.bodyBytesInFlight += bytes;
        reply.raw.once('close', () => (this.bodyBytesInFlight -= bytes));
        return done(null, payload);
      }
      done(null, this.countChunks(reply, payload));
    });
  }

  /** Passes `payload` through, counting its chunks in the bytes in flight as they arrive. */
  private countChunks(reply: FastifyReply, payload: Readable): Readable {
    let held = 0;
    reply.raw.once('close', () => {
      this.bodyBytesInFlight -= held;
      held = 0;
    });
    const counted = new Transform({
      transform: (chunk: Buffer, _encoding, callback: TransformCallback) => {
        if (this.bodyBytesInFlight + chunk.length > this.settings.maxBodyBytesInFlight) {
          callback(this.bodyRefusal(reply));
          return;
        }
        this.bodyBytesInFlight += chunk.length;
        held += chunk.length;
        callback(null, chunk);
      },
    });
    payload.on('error', (err) => counted.destroy(err));
    return payload.pipe(counted);
  }

  private bodyRefusal(reply: FastifyReply): Error {
    const message = `too many request body bytes in flight (MAX_BODY_BYTES_IN_FLIGHT ${this.settings.maxBodyBytesInFlight}): retry later`;
    this.refuse('body_bytes_in_flight', message);
    reply.header('retry-after', '1').header('connection', 'close');
    return Object.assign(new Error(message), { statusCode: 503 });
  }

  private refuse(reason: RefusalReason, message: string): void {
    this.refusedTotal.inc({ reason });
    this.log.refused(reason, message);
  }
}
