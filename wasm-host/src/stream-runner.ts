import type { HeaderPairs } from './header-map';
import { HttpStream, type StreamLimits, type StreamSink } from './http-stream';
import type {
  FailStrategy,
  ForwardedRequest,
  StreamBody,
  StreamRequest,
  StreamResult,
  Upstream,
  UpstreamResponse,
} from './types';
import type { Vm } from './vm';
import type { StreamProperties } from './istio/stream-properties';

export interface StreamAddresses {
  source: string;
  destination: string;
  /** Per-stream Istio properties; HttpStream.setProperties replaces them later. */
  properties?: StreamProperties;
}

/** A stream on `vm` whose output goes to `sink`; without a context (failed VM) the fail strategy applies. */
export function openHttpStream(
  vm: Vm,
  failStrategy: FailStrategy,
  limits: StreamLimits,
  sink: StreamSink,
  addresses: StreamAddresses,
): HttpStream {
  const ctx = vm.failed
    ? undefined
    : vm.createStreamContext(addresses.source, addresses.destination);
  if (ctx) ctx.streamProperties = addresses.properties;
  return new HttpStream(vm, ctx, sink, failStrategy, limits);
}

/** A body as the chunks it arrives in: a Buffer or string is one chunk, an array is its chunks. */
export function bodyChunks(body: StreamBody | undefined): Buffer[] {
  if (body === undefined) return [];
  const parts = Array.isArray(body) ? body : [body as Buffer | string];
  return parts
    .map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p)))
    .filter((p) => p.length > 0);
}

/**
 * A whole body travels with its content-length, as an HTTP/1.1 peer sends it (and Envoy shows it); a body
 * given in chunks arrives without one, like a chunked upload.
 */
function framed(headers: HeaderPairs, body: StreamBody | undefined, chunks: Buffer[]): HeaderPairs {
  if (Array.isArray(body) || chunks.length === 0) return headers;
  if (headers.some(([k]) => k === 'content-length' || k === 'transfer-encoding')) return headers;
  return [...headers, ['content-length', String(chunks[0].length)]];
}

/** Feeds one side of a stream: headers, then each chunk, then trailers, with end_of_stream on the last. */
function feed(
  headers: (h: HeaderPairs, eos: boolean) => void,
  data: (c: Buffer, eos: boolean) => void,
  trailers: (t: HeaderPairs) => void,
  h: HeaderPairs,
  chunks: Buffer[],
  t: HeaderPairs,
): void {
  headers(h, chunks.length === 0 && t.length === 0);
  chunks.forEach((c, i) => data(c, i === chunks.length - 1 && t.length === 0));
  if (t.length > 0) trailers(t);
}

/**
 * Drives one HTTP stream in process, for tests: the request as given (a body in chunks arrives in
 * chunks), the upstream called once the plugin let the whole request through, its answer fed back
 * through the response callbacks.
 */
export async function runStream(
  vm: Vm,
  failStrategy: FailStrategy,
  limits: StreamLimits,
  request: StreamRequest,
  upstream: Upstream,
  addresses: StreamAddresses,
): Promise<StreamResult> {
  const requestChunks = bodyChunks(request.body);
  const requestHeaders = framed(
    [
      [':method', request.method],
      [':path', request.path],
      [':authority', request.authority ?? 'localhost'],
      [':scheme', 'http'],
      ...(request.headers ?? [])
        .filter(([k]) => !k.startsWith(':'))
        .map(([k, v]): [string, string] => [k.toLowerCase(), v]),
    ],
    request.body,
    requestChunks,
  );

  let forwardedHeaders: HeaderPairs | undefined;
  const forwardedChunks: Buffer[] = [];
  let forwardedTrailers: HeaderPairs = [];
  let forwarded: ForwardedRequest | undefined;
  let cancelled = false;
  let responseHeaders: HeaderPairs = [];
  const responseChunks: Buffer[] = [];
  let responseTrailers: HeaderPairs = [];
  let reset = false;

  const callUpstream = (): void => {
    if (cancelled || forwarded || !forwardedHeaders) return;
    forwarded = {
      headers: forwardedHeaders,
      body: Buffer.concat(forwardedChunks),
      bodyChunks: forwardedChunks,
      trailers: forwardedTrailers,
    };
    const sent = forwarded;
    void (async () => {
      let answer: UpstreamResponse;
      try {
        answer = typeof upstream === 'function' ? await upstream(sent) : upstream;
      } catch {
        if (!cancelled) stream.upstreamFailed();
        return;
      }
      if (cancelled) return;
      const chunks = bodyChunks(answer.body);
      const headers = framed(
        [
          [':status', String(answer.status)],
          ...(answer.headers ?? []).map(([k, v]): [string, string] => [k.toLowerCase(), v]),
        ],
        answer.body,
        chunks,
      );
      feed(
        (h, eos) => stream.responseHeaders(h, eos),
        (c, eos) => stream.responseData(c, eos),
        (t) => stream.responseTrailers(t),
        headers,
        chunks,
        answer.trailers ?? [],
      );
    })();
  };

  const sink: StreamSink = {
    upstreamHeaders(headers, eos) {
      forwardedHeaders = headers;
      if (eos) callUpstream();
    },
    upstreamData(chunk, eos) {
      forwardedChunks.push(chunk);
      if (eos) callUpstream();
    },
    upstreamTrailers(trailers) {
      forwardedTrailers = trailers;
      callUpstream();
    },
    upstreamCancel() {
      cancelled = true;
    },
    downstreamHeaders(headers) {
      responseHeaders = headers;
    },
    downstreamData(chunk) {
      responseChunks.push(chunk);
    },
    downstreamTrailers(trailers) {
      responseTrailers = trailers;
    },
    downstreamReset() {
      reset = true;
    },
  };

  const stream = openHttpStream(vm, failStrategy, limits, sink, addresses);
  feed(
    (h, eos) => stream.requestHeaders(h, eos),
    (c, eos) => stream.requestData(c, eos),
    (t) => stream.requestTrailers(t),
    requestHeaders,
    requestChunks,
    request.trailers ?? [],
  );
  const end = await stream.done;
  if (reset || end.reset) {
    return {
      status: 0,
      headers: [],
      body: Buffer.alloc(0),
      bodyChunks: [],
      trailers: [],
      localReply: end.localReply,
      reset: true,
      forwarded,
    };
  }
  const status = Number(responseHeaders.find(([k]) => k === ':status')?.[1] ?? 0);
  return {
    status,
    headers: responseHeaders.filter(([k]) => !k.startsWith(':')),
    body: Buffer.concat(responseChunks),
    bodyChunks: responseChunks,
    trailers: responseTrailers,
    localReply: end.localReply,
    reset: false,
    forwarded,
  };
}
