// Per-HTTP-stream observation in traffic mode. Host calls per stream: request headers 3
// (:method, the route header or :path, clock), response headers 2 (:status, clock); one more
// :path read when a configured route header is absent; one clock read when the stream ends
// without response headers. Body sizes come from the callbacks' arguments, for free.

import { MapType, getHeader, nowNanos, releaseValue, valuePtr, valueSize, valueText } from './host';
import { Reporter } from './reporter';
import { METHODS, METHOD_OTHER, MAX_ROUTE_CHARS, Observation, clip } from './traffic';

const METHOD_KEY = ascii(':method');
const PATH_KEY = ascii(':path');
const STATUS_KEY = ascii(':status');

/** A TCP connection's state: its dimensions once read, whether a window counted it opened or
 * closed, and the bytes since it was last added to one. Only connections carry one, so HTTP stream
 * records stay small. */
export class Connection {
  dims: StaticArray<string> | null = null;
  read: bool = false;
  opened: bool = false;
  closed: bool = false;
  received: u64 = 0;
  sent: u64 = 0;
}

/** A stream being observed; it is its own observation, handed to the aggregation when it ends.
 * Recycled through the spare list in index.ts, so steady traffic allocates little per request. */
export class Stream extends Observation {
  reporter: Reporter | null = null;
  /** The next recycled record while this one waits in the spare list (see index.ts). */
  nextSpare: Stream | null = null;
  /** Its context id, and the next stream in its bucket (see `streams` in index.ts). */
  contextId: u32 = 0;
  nextInBucket: Stream | null = null;
  started: bool = false;
  answered: bool = false;
  startNs: u64 = 0;
  /** Istio mode, a network filter's connection (see connection.ts); null for HTTP streams. */
  tcp: Connection | null = null;

  reset(reporter: Reporter): void {
    this.tcp = null;
    this.reporter = reporter;
    this.started = false;
    this.answered = false;
    this.startNs = 0;
    this.method = 0;
    this.code = 0;
    this.route = '/';
    this.durationNs = 0;
    this.bytesIn = 0;
    this.bytesOut = 0;
  }
}

/** The method index of the header value just read (see `getHeader`). */
function methodOfValue(): u8 {
  for (let m = 0; m < <i32>METHOD_OTHER; m++) {
    const name = unchecked(METHODS[m]);
    if (<usize>load<u16>(name) == valueSize && memory.compare(name + 2, valuePtr, valueSize) == 0)
      return <u8>m;
  }
  return METHOD_OTHER;
}

/** The first path segment of the value just read: '/api/v1?x' -> 'api'; '/' or '' -> '/'; '*' -> '*'. */
function firstSegmentOfValue(): string {
  if (valueSize == 0) return '/';
  const from: usize = load<u8>(valuePtr) == 0x2f ? 1 : 0;
  let to = from;
  while (to < valueSize) {
    const c = load<u8>(valuePtr + to);
    if (c == 0x2f || c == 0x3f || c == 0x23) break;
    to++;
  }
  if (to == from) return '/';
  return routeText(from, to);
}

/** Bytes `from`..`to` of the value just read as a route key: at most MAX_ROUTE_CHARS units. */
function routeText(from: usize, to: usize): string {
  if (to - from > <usize>MAX_ROUTE_CHARS * 4) to = from + <usize>MAX_ROUTE_CHARS * 4;
  return clip(valueText(from, to), MAX_ROUTE_CHARS);
}

/** `routeHeader`: the configured header's name as a byte string (see `getHeader`), 0 for none. */
function routeOf(routeHeader: usize): string {
  if (routeHeader != 0 && getHeader(MapType.RequestHeaders, routeHeader)) {
    if (valueSize > 0) {
      const route = routeText(0, valueSize);
      releaseValue();
      return route;
    }
    releaseValue();
  }
  if (!getHeader(MapType.RequestHeaders, PATH_KEY)) return '/';
  const route = firstSegmentOfValue();
  releaseValue();
  return route;
}

export function onRequestHeaders(s: Stream, routeHeader: usize): void {
  let method = METHOD_OTHER;
  if (getHeader(MapType.RequestHeaders, METHOD_KEY)) {
    method = methodOfValue();
    releaseValue();
  }
  s.method = method;
  s.route = routeOf(routeHeader);
  s.startNs = nowNanos();
  s.started = true;
}

export function onResponseHeaders(s: Stream): void {
  if (!s.started || s.answered) return;
  let code: u8 = 0;
  if (getHeader(MapType.ResponseHeaders, STATUS_KEY)) {
    const c = valueSize == 3 ? <i32>load<u8>(valuePtr) - 0x30 : 0;
    if (c >= 1 && c <= 5) code = <u8>c;
    releaseValue();
  }
  s.code = code;
  s.answered = true;
  const now = nowNanos();
  s.durationNs = now > s.startNs ? now - s.startNs : 0;
}

/** The stream is over: hand its observation to the reporter (streams without request headers are not counted). */
export function finish(s: Stream): void {
  const reporter = s.reporter;
  if (reporter === null || !s.started) return;
  if (!s.answered) {
    const now = nowNanos();
    s.code = 0;
    s.durationNs = now > s.startNs ? now - s.startNs : 0;
  }
  reporter.record(s);
}
