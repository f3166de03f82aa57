import { Agent, request, type ClientRequest, type IncomingMessage } from 'node:http';
import type { HeaderPairs } from '../header-map';
import { headerRecord, urlOnOrigin } from '../outgoing-request';
import { drained } from './drained';

/** Headers a proxy never forwards (hop-by-hop); content-length is kept and re-framed separately. */
export const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'upgrade',
  'trailer',
]);

/** What the upstream answers, as it arrives. */
export interface UpstreamEvents {
  headers(headers: HeaderPairs, endOfStream: boolean): void;
  data(chunk: Buffer, endOfStream: boolean): void;
  trailers(trailers: HeaderPairs): void;
  /** No answer: connection failure (503) or the route timeout (504) before the answer was complete. */
  failed(kind: 'connect' | 'timeout', afterHeaders: boolean): void;
}

/** One request on its way to the upstream. */
export interface UpstreamExchange {
  /** Writes a chunk; a promise (backpressure) when the socket is full, resolved once it drained. */
  write(chunk: Buffer, endOfStream: boolean): void | Promise<void>;
  trailers(trailers: HeaderPairs): void;
  cancel(): void;
  /** Stop / start reading the answer (backpressure from the client). */
  pause(): void;
  resume(): void;
}

export const pairsOf = (raw: string[], skip: (k: string) => boolean): HeaderPairs => {
  const pairs: HeaderPairs = [];
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i].toLowerCase();
    if (!skip(k)) pairs.push([k, raw[i + 1]]);
  }
  return pairs;
};

/**
 * Streams (plugin-modified) requests to the upstream over keep-alive HTTP/1.1 and its answers back as
 * events. Without a content-length the body goes chunked, as Envoy's HTTP/1 codec sends it. When the
 * whole answer has not arrived within `timeoutMs` (0 = no limit) the request is dropped: a 504 before
 * response headers, a reset after, like Envoy's route timeout.
 */
export class UpstreamClient {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 256 });

  constructor(
    private readonly base: URL,
    private readonly timeoutMs = 0,
  ) {}

  open(headers: HeaderPairs, endOfStream: boolean, events: UpstreamEvents): UpstreamExchange {
    const pseudo = new Map(headers.filter(([k]) => k.startsWith(':')));
    const method = pseudo.get(':method') ?? 'GET';
    const outgoing = headerRecord(
      headers,
      (k) => k.startsWith(':') || HOP_BY_HOP.has(k) || k === 'host',
    );
    outgoing.host = pseudo.get(':authority') ?? this.base.host;
    // A body of unknown length goes chunked, whatever the method (Node only does so by itself for some).
    if (!endOfStream && outgoing['content-length'] === undefined) {
      outgoing['transfer-encoding'] = 'chunked';
    }
    // The plugin may have rewritten :path; it still only picks a path on the upstream.
    const url = urlOnOrigin(this.base, pseudo.get(':path') ?? '/');
    let done = false;
    let gotHeaders = false;
    let response: IncomingMessage | undefined;
    let timer: NodeJS.Timeout | undefined;
    const fail = (kind: 'connect' | 'timeout') => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      out.destroy();
      events.failed(kind, gotHeaders);
    };
    const out: ClientRequest = request(
      url,
      { method, headers: outgoing, agent: this.agent },
      (res) => {
        response = res;
        gotHeaders = true;
        const answer: HeaderPairs = [
          [':status', String(res.statusCode ?? 502)],
          ...pairsOf(res.rawHeaders, (k) => HOP_BY_HOP.has(k)),
        ];
        const hasBody =
          method !== 'HEAD' &&
          res.statusCode !== 204 &&
          res.statusCode !== 304 &&
          (res.headers['content-length'] !== '0' || res.headers['transfer-encoding'] !== undefined);
        if (!hasBody) {
          done = true;
          clearTimeout(timer);
          res.resume();
          events.headers(answer, true);
          return;
        }
        events.headers(answer, false);
        const declared = res.headers['content-length'];
        const chunked = res.headers['transfer-encoding'] !== undefined;
        const length =
          !chunked && declared !== undefined && /^\d+$/.test(declared)
            ? Number(declared)
            : undefined;
        let received = 0;
        res.on('data', (c: Buffer) => {
          if (done) return;
          received += c.length;
          // The chunk that completes a content-length carries end_of_stream, as from Envoy's HTTP/1
          // codec; a chunked answer ends with an empty one.
          const last = received === length;
          if (last) {
            done = true;
            clearTimeout(timer);
          }
          events.data(c, last);
        });
        res.on('end', () => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          const trailers = pairsOf(res.rawTrailers, () => false);
          if (trailers.length > 0) events.trailers(trailers);
          else events.data(Buffer.alloc(0), true);
        });
        res.on('error', () => fail('connect'));
        res.on('aborted', () => fail('connect'));
      },
    );
    out.on('error', () => fail('connect'));
    if (this.timeoutMs > 0) {
      timer = setTimeout(() => fail('timeout'), this.timeoutMs);
    }
    if (endOfStream) out.end();
    return {
      write: (chunk, eos) => {
        if (done && !gotHeaders) return;
        if (eos) {
          out.end(chunk);
          return;
        }
        if (out.write(chunk)) return;
        return drained(out);
      },
      trailers: (trailers) => {
        if (out.writableEnded) return;
        out.addTrailers(headerRecord(trailers));
        out.end();
      },
      cancel: () => {
        done = true;
        clearTimeout(timer);
        out.destroy();
      },
      pause: () => response?.pause(),
      resume: () => response?.resume(),
    };
  }

  close(): void {
    this.agent.destroy();
  }
}
