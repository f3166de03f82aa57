import { StreamContextState, type LocalReply } from './contexts';
import { HeaderMap, type HeaderPairs } from './header-map';
import type {
  FailStrategy,
  ForwardedRequest,
  StreamRequest,
  StreamResult,
  Upstream,
  UpstreamResponse,
} from './types';
import type { Vm } from './vm';

interface Response {
  status: number;
  headers: HeaderPairs;
  body: Buffer;
  trailers: HeaderPairs;
}

const toBuffer = (b: Buffer | string | undefined): Buffer =>
  b === undefined ? Buffer.alloc(0) : typeof b === 'string' ? Buffer.from(b, 'utf8') : b;

/** A reply the proxy itself makes (local reply, upstream failure, fail-closed), Envoy-shaped. */
function localResponse(status: number, body: Buffer, extra: HeaderPairs = []): Response {
  const headers = new HeaderMap();
  if (body.length > 0) headers.add('content-type', 'text/plain');
  for (const [k, v] of extra) headers.replace(k, v);
  headers.replace('content-length', String(body.length));
  return { status, headers: headers.pairs, body, trailers: [] };
}

const UPSTREAM_FAILURE = Buffer.from(
  'upstream connect error or disconnect/reset before headers. reset reason: connection failure',
);

/** A whole body travels with its content-length, as an HTTP/1.1 peer sends it (and Envoy shows it). */
function withContentLength(headers: HeaderPairs, body: Buffer): void {
  if (body.length === 0) return;
  if (headers.some(([k]) => k === 'content-length' || k === 'transfer-encoding')) return;
  headers.push(['content-length', String(body.length)]);
}

async function callUpstream(upstream: Upstream, forwarded: ForwardedRequest): Promise<Response> {
  let up: UpstreamResponse;
  try {
    up = typeof upstream === 'function' ? await upstream(forwarded) : upstream;
  } catch {
    return localResponse(503, UPSTREAM_FAILURE);
  }
  const headers: HeaderPairs = (up.headers ?? []).map(([k, v]) => [k.toLowerCase(), v]);
  const body = toBuffer(up.body);
  withContentLength(headers, body);
  return { status: up.status, headers, body, trailers: up.trailers ?? [] };
}

/**
 * Drives one HTTP stream through a VM as Envoy's HTTP filter would: request headers/body/trailers, the
 * upstream, response headers/body/trailers, then on_done, on_log, on_delete. Plugins may pause (until
 * proxy_continue_stream), answer locally, close the stream, or change headers and bodies.
 */
export async function runStream(
  vm: Vm,
  failStrategy: FailStrategy,
  request: StreamRequest,
  upstream: Upstream,
  addresses: { source: string; destination: string },
): Promise<StreamResult> {
  const requestHeaders: HeaderPairs = [
    [':method', request.method],
    [':path', request.path],
    [':authority', request.authority ?? 'localhost'],
    [':scheme', 'http'],
    ...(request.headers ?? []).filter(([k]) => !k.startsWith(':')),
  ];
  const requestBody = toBuffer(request.body);
  withContentLength(requestHeaders, requestBody);
  const requestTrailers = request.trailers ?? [];
  const failOpen = failStrategy === 'FAIL_OPEN';

  const passThrough = async (): Promise<StreamResult> => {
    const headers = new HeaderMap(requestHeaders);
    const forwarded = { headers: headers.copy(), body: requestBody, trailers: requestTrailers };
    return finalResult(await callUpstream(upstream, forwarded), false, false, forwarded);
  };
  const failClosed = (): StreamResult =>
    finalResult(localResponse(503, Buffer.alloc(0)), true, false, undefined);

  if (vm.failed) return failOpen ? passThrough() : failClosed();
  const ctx = vm.createStreamContext(addresses.source, addresses.destination);
  if (!ctx) return failOpen ? passThrough() : failClosed();
  ctx.requestHeaders.setAll(requestHeaders);

  /** 'go' to keep calling the plugin, 'stop' when it answered/closed, 'failed' after a trap. */
  const step = async (
    name: string,
    args: number[],
    map?: keyof StreamContextState['access'],
  ): Promise<'go' | 'stop' | 'failed'> => {
    ctx.continued = false;
    if (map) ctx.access[map] = 'write';
    try {
      const r = vm.call(name, ctx, [ctx.id, ...args]);
      if (!r.ok) return 'failed';
      if (ctx.localReply || ctx.reset) return 'stop';
      if (r.value !== 0 && !ctx.continued) await ctx.paused();
      if (vm.failed) return 'failed';
      return ctx.localReply || ctx.reset ? 'stop' : 'go';
    } finally {
      if (map) ctx.access[map] = 'none';
    }
  };

  // ---- request path
  let outcome: 'go' | 'stop' | 'failed' = 'go';
  const hasBody = requestBody.length > 0;
  const hasTrailers = requestTrailers.length > 0;
  outcome = await step(
    'proxy_on_request_headers',
    [ctx.requestHeaders.size, hasBody || hasTrailers ? 0 : 1],
    'requestHeaders',
  );
  if (hasBody) ctx.requestBody = requestBody;
  if (outcome === 'go' && hasBody) {
    ctx.liveBody = 'request';
    outcome = await step('proxy_on_request_body', [requestBody.length, hasTrailers ? 0 : 1]);
    ctx.liveBody = undefined;
  }
  if (hasTrailers) ctx.requestTrailers = new HeaderMap(requestTrailers);
  if (outcome === 'go' && ctx.requestTrailers) {
    outcome = await step(
      'proxy_on_request_trailers',
      [ctx.requestTrailers.size],
      'requestTrailers',
    );
  }

  if (outcome === 'failed') {
    if (!failOpen) return finish(ctx, vm, failClosed());
    return finish(ctx, vm, await passThrough());
  }
  if (ctx.reset) return finish(ctx, vm, resetResult());

  let response: Response;
  let local = false;
  let forwarded: ForwardedRequest | undefined;
  if (ctx.localReply) {
    const lr = ctx.localReply;
    response = localResponse(lr.status, lr.body, lr.headers);
    local = true;
  } else {
    forwarded = {
      headers: ctx.requestHeaders.copy(),
      body: ctx.requestBody ?? Buffer.alloc(0),
      trailers: ctx.requestTrailers?.copy() ?? [],
    };
    response = await callUpstream(upstream, forwarded);
  }

  // ---- response path (local replies go through it too, as in Envoy)
  ctx.phase = 'response';
  // From here on, ctx.localReply means a reply sent during the response path.
  ctx.localReply = undefined;
  ctx.responseHeaders = new HeaderMap([[':status', String(response.status)], ...response.headers]);
  const hasRespBody = response.body.length > 0;
  const hasRespTrailers = response.trailers.length > 0;
  if (hasRespBody) ctx.responseBody = response.body;
  if (hasRespTrailers) ctx.responseTrailers = new HeaderMap(response.trailers);
  outcome = await step(
    'proxy_on_response_headers',
    [ctx.responseHeaders.size, hasRespBody || hasRespTrailers ? 0 : 1],
    'responseHeaders',
  );
  if (outcome === 'go' && hasRespBody) {
    ctx.liveBody = 'response';
    outcome = await step('proxy_on_response_body', [response.body.length, hasRespTrailers ? 0 : 1]);
    ctx.liveBody = undefined;
  }
  if (outcome === 'go' && ctx.responseTrailers) {
    outcome = await step(
      'proxy_on_response_trailers',
      [ctx.responseTrailers.size],
      'responseTrailers',
    );
  }
  if (outcome === 'failed') {
    return finish(
      ctx,
      vm,
      failOpen ? finalResult(response, local, false, forwarded) : failClosed(),
    );
  }
  if (ctx.reset) return finish(ctx, vm, resetResult());
  // A reply the plugin sent during the response path replaces the response.
  const lateReply = ctx.localReply as LocalReply | undefined;
  if (lateReply) {
    const lr = lateReply;
    return finish(
      ctx,
      vm,
      finalResult(localResponse(lr.status, lr.body, lr.headers), true, false, forwarded),
    );
  }
  const finalHeaders = ctx.responseHeaders;
  const status = Number(finalHeaders.get(':status') ?? response.status);
  return finish(
    ctx,
    vm,
    finalResult(
      {
        status: Number.isInteger(status) ? status : response.status,
        headers: finalHeaders.pairs,
        body: ctx.responseBody ?? Buffer.alloc(0),
        trailers: ctx.responseTrailers?.copy() ?? [],
      },
      local,
      false,
      forwarded,
    ),
  );
}

function resetResult(): StreamResult {
  return {
    status: 0,
    headers: [],
    body: Buffer.alloc(0),
    trailers: [],
    localReply: false,
    reset: true,
  };
}

function finalResult(
  response: Response,
  localReply: boolean,
  reset: boolean,
  forwarded: ForwardedRequest | undefined,
): StreamResult {
  // A body the plugin changed is re-framed: content-length always states the bytes sent.
  const headers: HeaderPairs = response.headers
    .filter(([k]) => !k.startsWith(':'))
    .map(([k, v]) => (k === 'content-length' ? [k, String(response.body.length)] : [k, v]));
  return {
    status: response.status,
    headers,
    body: response.body,
    trailers: response.trailers,
    localReply,
    reset,
    forwarded,
  };
}

/** Stream end as Envoy runs it: on_done, on_log, on_delete; the context is then forgotten. */
function finish(ctx: StreamContextState, vm: Vm, result: StreamResult): StreamResult {
  ctx.phase = 'done';
  if (!vm.failed) {
    vm.call('proxy_on_done', ctx, [ctx.id], 1);
    // Envoy lends the stream's headers and response trailers read-only to the access-log callback.
    const { access } = ctx;
    access.requestHeaders = access.responseHeaders = access.responseTrailers = 'read';
    vm.call('proxy_on_log', ctx, [ctx.id]);
    access.requestHeaders = access.responseHeaders = access.responseTrailers = 'none';
    vm.call('proxy_on_delete', ctx, [ctx.id]);
  }
  vm.contexts.delete(ctx.id);
  return result;
}
