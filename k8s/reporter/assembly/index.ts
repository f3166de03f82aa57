// mesha reporter: the proxy-wasm ABI 0.2.1 entry points. Root contexts (parent 0) own a
// Reporter; HTTP stream contexts are observed in traffic and istio mode, network filter
// connections (proxy_on_new_connection) in istio mode.

import { Mode } from './config';
import { LogLevel, hostAlloc, logRaw } from './host';
import { flushConnection, readDimensions, recordConnection } from './connection';
import { Reporter } from './reporter';
import { Connection, Stream, finish, onRequestHeaders, onResponseHeaders } from './stream';

/** Root contexts, a list through `nextRoot`: normally one per VM (more only when several plugins
 * share a VM). Reporters are unmanaged, so they are not kept in a Map. */
let firstRoot: Reporter | null = null;
/** Streams by context id: fixed buckets (by the id's low bits) of chains through `nextInBucket`.
 * Simpler than a Map, and no Map in the binary. */
const STREAM_BUCKETS: u32 = 1024;
const streams = new StaticArray<Stream | null>(STREAM_BUCKETS);
/** Recycled stream records (a list through `nextSpare`), so steady traffic allocates little per request. */
let spare: Stream | null = null;
let spareCount = 0;
const MAX_SPARE = 256;
let routeHeaderKey: ArrayBuffer | null = null;
let routeHeaderFor: string = '';

const CONTINUE: i32 = 0;

/** The minimal runtime collects only when asked: at the end of a callback, when no managed value
 * lives on the stack (everything kept is reachable from globals or pinned), every COLLECT_EVERY
 * finished streams and after every tick, configuration and call answer. */
const COLLECT_EVERY = 64;
let streamsSinceCollect = 0;

function collectAfterStream(): void {
  if (++streamsSinceCollect < COLLECT_EVERY) return;
  streamsSinceCollect = 0;
  __collect();
}

export function proxy_abi_version_0_2_1(): void {}

export function malloc(size: usize): usize {
  return hostAlloc(size);
}

export function proxy_on_memory_allocate(size: usize): usize {
  return hostAlloc(size);
}

function streamOf(contextId: u32): Stream | null {
  let s = unchecked(streams[contextId & (STREAM_BUCKETS - 1)]);
  while (s !== null && s.contextId != contextId) s = s.nextInBucket;
  return s;
}

function removeStream(s: Stream): void {
  const b = s.contextId & (STREAM_BUCKETS - 1);
  let at = unchecked(streams[b]);
  if (at === s) {
    unchecked((streams[b] = s.nextInBucket));
  } else {
    while (at !== null && at.nextInBucket !== s) at = at.nextInBucket;
    if (at !== null) at.nextInBucket = s.nextInBucket;
  }
  s.nextInBucket = null;
}

function rootOf(contextId: u32): Reporter | null {
  let r = firstRoot;
  while (r !== null && r.contextId != contextId) r = r.nextRoot;
  return r;
}

function root(contextId: u32): Reporter {
  const known = rootOf(contextId);
  if (known !== null) return known;
  const r = new Reporter(contextId);
  r.nextRoot = firstRoot;
  firstRoot = r;
  return r;
}

export function proxy_on_context_create(contextId: u32, parentId: u32): void {
  if (parentId == 0) {
    root(contextId);
    return;
  }
  const reporter = rootOf(parentId);
  if (reporter === null) return;
  if (!reporter.configured || reporter.config.mode == Mode.Heartbeat) return;
  let s = spare;
  if (s !== null) {
    spare = s.nextSpare;
    s.nextSpare = null;
    spareCount--;
  } else {
    s = new Stream();
  }
  s.reset(reporter);
  reporter.streams++;
  // A context id is not reused while its stream lives; if a host did, the newer stream wins.
  const old = streamOf(contextId);
  if (old !== null) {
    removeStream(old);
    retire(old);
  }
  const b = contextId & (STREAM_BUCKETS - 1);
  s.contextId = contextId;
  s.nextInBucket = unchecked(streams[b]);
  unchecked((streams[b] = s));
}

export function proxy_on_vm_start(_rootId: u32, _vmConfigSize: u32): bool {
  return true;
}

export function proxy_on_configure(rootId: u32, size: u32): bool {
  const ok = root(rootId).configure(size);
  __collect();
  return ok;
}

export function proxy_on_tick(rootId: u32): void {
  const r = rootOf(rootId);
  if (r !== null) {
    if (r.config.mode == Mode.Istio) flushConnections(r);
    r.tick();
  }
  __collect();
}

/** The news of `r`'s open TCP connections into its window, before the tick reports it. */
function flushConnections(r: Reporter): void {
  for (let b: u32 = 0; b < STREAM_BUCKETS; b++) {
    let s = unchecked(streams[b]);
    while (s !== null) {
      const c = s.tcp;
      if (c !== null && s.reporter === r) flushConnection(s, c);
      s = s.nextInBucket;
    }
  }
}

export function proxy_on_new_connection(contextId: u32): i32 {
  const s = streamOf(contextId);
  if (s === null) return CONTINUE;
  const reporter = s.reporter;
  if (reporter !== null && reporter.config.mode == Mode.Istio) s.tcp = new Connection();
  return CONTINUE;
}

/** Client -> server bytes: istio_tcp_received_bytes_total. */
export function proxy_on_downstream_data(contextId: u32, size: u32, _endOfStream: bool): i32 {
  const s = streamOf(contextId);
  if (s === null) return CONTINUE;
  const c = s.tcp;
  if (c !== null) {
    c.received += size;
    readDimensions(s, c, false);
  }
  return CONTINUE;
}

/** Server -> client bytes: istio_tcp_sent_bytes_total. */
export function proxy_on_upstream_data(contextId: u32, size: u32, _endOfStream: bool): i32 {
  const s = streamOf(contextId);
  if (s === null) return CONTINUE;
  const c = s.tcp;
  if (c !== null) {
    c.sent += size;
    readDimensions(s, c, false);
  }
  return CONTINUE;
}

export function proxy_on_downstream_connection_close(_contextId: u32, _peer: u32): void {}

export function proxy_on_upstream_connection_close(_contextId: u32, _peer: u32): void {}

export function proxy_on_http_call_response(
  rootId: u32,
  token: u32,
  headers: u32,
  _bodySize: u32,
  _trailers: u32,
): void {
  const r = rootOf(rootId);
  if (r !== null) r.onHttpCallResponse(token, headers);
  __collect();
}

/** The configured route header's name as a byte string for `getHeader` (a u16 length, then the
 * UTF-8 bytes), or 0 when none is configured. Kept alive by `routeHeaderKey`. */
function routeKey(reporter: Reporter): usize {
  const name = reporter.config.routeHeader;
  if (name.length == 0) return 0;
  if (routeHeaderFor != name || routeHeaderKey === null) {
    const n = String.UTF8.byteLength(name);
    const key = new ArrayBuffer(n + 2);
    store<u16>(changetype<usize>(key), <u16>n);
    String.UTF8.encodeUnsafe(changetype<usize>(name), name.length, changetype<usize>(key) + 2);
    routeHeaderKey = key;
    routeHeaderFor = name;
  }
  return changetype<usize>(routeHeaderKey);
}

export function proxy_on_request_headers(contextId: u32, _headers: u32, _endOfStream: bool): i32 {
  const s = streamOf(contextId);
  if (s === null) return CONTINUE;
  const reporter = s.reporter;
  if (reporter !== null && !s.started && reporter.config.mode == Mode.Traffic)
    onRequestHeaders(s, routeKey(reporter));
  return CONTINUE;
}

export function proxy_on_request_body(contextId: u32, size: u32, _endOfStream: bool): i32 {
  const s = streamOf(contextId);
  if (s !== null) s.bytesIn += size;
  return CONTINUE;
}

export function proxy_on_request_trailers(_contextId: u32, _trailers: u32): i32 {
  return CONTINUE;
}

export function proxy_on_response_headers(contextId: u32, _headers: u32, _endOfStream: bool): i32 {
  const s = streamOf(contextId);
  if (s !== null) onResponseHeaders(s);
  return CONTINUE;
}

export function proxy_on_response_body(contextId: u32, size: u32, _endOfStream: bool): i32 {
  const s = streamOf(contextId);
  if (s !== null) s.bytesOut += size;
  return CONTINUE;
}

export function proxy_on_response_trailers(_contextId: u32, _trailers: u32): i32 {
  return CONTINUE;
}

export function proxy_on_done(_contextId: u32): bool {
  return true;
}

/** Istio mode records here, as Istio's stats filter does: sizes, flags and duration are final; a
 * connection's end (closed) too. */
export function proxy_on_log(contextId: u32): void {
  const s = streamOf(contextId);
  if (s === null) return;
  const c = s.tcp;
  if (c !== null) {
    recordConnection(s, c, true);
    return;
  }
  const reporter = s.reporter;
  if (reporter !== null && reporter.config.mode == Mode.Istio) reporter.recordIstio();
}

export function proxy_on_delete(contextId: u32): void {
  const s = streamOf(contextId);
  if (s !== null) {
    removeStream(s);
    finish(s);
    retire(s);
    collectAfterStream();
    return;
  }
  deleteRoot(contextId);
  __collect();
}

/** A stream's record is done with: its reporter lets go of it, and it is kept as a spare or freed. */
function retire(s: Stream): void {
  const r = s.reporter;
  if (r !== null && --r.streams == 0 && r.deleted) r.release();
  s.reporter = null;
  if (spareCount < MAX_SPARE) {
    s.nextSpare = spare;
    spare = s;
    spareCount++;
  }
}

/** Unlinks a root context; its Reporter is freed now, or when the last stream pointing at it ends. */
function deleteRoot(contextId: u32): void {
  let prev: Reporter | null = null;
  let r = firstRoot;
  while (r !== null && r.contextId != contextId) {
    prev = r;
    r = r.nextRoot;
  }
  if (r === null) return;
  if (prev === null) firstRoot = r.nextRoot;
  else prev.nextRoot = r.nextRoot;
  r.deleted = true;
  if (r.streams == 0) r.release();
}

/** Replaces AssemblyScript's `env.abort` import: log what failed at CRITICAL, then trap. */
function onAbort(message: string | null, fileName: string | null, line: u32, column: u32): void {
  // Static room for the message: logging it must not allocate (abort may mean out of memory).
  const ABORT_TEXT: usize = memory.data(256);
  const prefix = ascii('mesha reporter aborted: ');
  let n = <i32>load<u16>(prefix);
  memory.copy(ABORT_TEXT, prefix + 2, <usize>n);
  if (message !== null) {
    const len = min(message.length, 200);
    for (let i = 0; i < len; i++) {
      const c = message.charCodeAt(i);
      store<u8>(ABORT_TEXT + n++, c < 0x80 ? <u8>c : 0x3f);
    }
  }
  logRaw(LogLevel.Critical, ABORT_TEXT, n);
  unreachable();
}
