// The plugin configuration: defaults, and a streaming JSON reader that checks each field as it
// meets it. A refused configuration names the field, so the CRITICAL log line says what to fix.
// It never traps: every error ends parsing with a message.

import { hold } from './reporter';
import { wBytes, wNext, wTemplate, wU64, wUtf8 } from './writer';

export const enum Mode {
  Heartbeat = 0,
  Traffic = 1,
  /** Istio's standard HTTP metrics (istio.ts, report v2). */
  Istio = 2,
}

/** Unmanaged, so reading and setting it costs no shadow-stack traffic: the strings and the array it
 * holds are pinned (`put`) until `release()`. */
@unmanaged
export class Config {
  cluster: string = 'outbound|7171||mesha.istio12.svc.cluster.local';
  authority: string = 'mesha.istio12.svc.cluster.local';
  path: string = '/wasmCallback';
  tickMs: u32 = 5000;
  timeoutMs: u32 = 5000;
  message: string = 'my header from wasm envoy reporter';
  /** Extra headers, name and value alternating. */
  headers: string[];
  mode: Mode = Mode.Heartbeat;
  /** Lower-case header name whose value is the route key; '' = use the first path segment. */
  routeHeader: string = '';
  maxKeys: i32 = 64;
  maxPending: i32 = 12;
  /** Traffic mode: prefix the report's :authority with the reporter id (see the README). */
  hashAuthority: bool = false;

  constructor() {
    const headers: string[] = [];
    hold(0, changetype<usize>(headers));
    this.headers = headers;
  }

  release(): void {
    const self = changetype<usize>(this);
    put(self + offsetof<Config>('cluster'), 0);
    put(self + offsetof<Config>('authority'), 0);
    put(self + offsetof<Config>('path'), 0);
    put(self + offsetof<Config>('message'), 0);
    put(self + offsetof<Config>('routeHeader'), 0);
    put(self + offsetof<Config>('headers'), 0);
    heap.free(self);
  }
}

/** Stores the managed object `value` in the field at `slot` of a Config, pinning it (and
 * unpinning what was there). */
function put(slot: usize, value: usize): void {
  hold(load<usize>(slot), value);
  store<usize>(slot, value);
}

const MAX_CONFIG_CHARS = 65536;
const MAX_STRING_CHARS = 4096;
const MAX_EXTRA_HEADERS = 32;
/** Headers the plugin sets itself (or the proxy derives): an extra one would duplicate or contradict them. */
const RESERVED_HEADERS: StaticArray<usize> = [
  ascii('accept'),
  ascii('content-type'),
  ascii('content-length'),
  ascii('host'),
  ascii('melonmsg'),
  ascii('x-mesha-reporter'),
];

// The reader's state lives in module globals rather than an object: one configuration is read at a
// time, and plain functions over plain values keep the incremental runtime's shadow-stack
// bookkeeping (and so the binary) small.
let text: string = '';
let textPtr: usize = 0;
let textLen: i32 = 0;
let at: i32 = 0;
/** Whether the current text was refused; the first reason is then in the writer's buffer. */
let refused = false;
let config: Config = changetype<Config>(0);

/** The UTF-16 unit at `i`, or -1 past the end. */
function charAt(i: i32): i32 {
  return <u32>i < <u32>textLen ? <i32>load<u16>(textPtr + ((<usize>i) << 1)) : -1;
}

function peek(): i32 {
  return charAt(at);
}

function ws(): i32 {
  let c = peek();
  while (c == 0x20 || c == 0x09 || c == 0x0a || c == 0x0d) c = charAt(++at);
  return peek();
}

/** Records the first reason for refusing the text (in the writer's buffer, see `readConfig`). */
function refuse(): bool {
  if (refused) return false;
  refused = true;
  return true;
}

function syntax(what: usize): bool {
  if (refuse()) {
    wTemplate(ascii('not valid JSON: ~ at offset ~'));
    wBytes(what);
    wNext();
    wU64(at);
    wNext();
  }
  return false;
}

/** "field '<name>' <what>"; `what` is an `ascii('...')` template whose '~' marks the caller fills. */
function field(name: usize, what: usize): bool {
  if (refuse()) {
    wTemplate(ascii("field '~' "));
    wUtf8(name);
    wNext();
    wTemplate(what);
  }
  return false;
}

/** Reads one configuration: null when refused, with the reason (UTF-8) left in the writer's
 * buffer for the caller to log. Empty text means every default. */
export function readConfig(source: string): Config | null {
  text = source;
  textPtr = changetype<usize>(source);
  textLen = source.length;
  at = 0;
  refused = false;
  config = new Config();
  const ok = read();
  text = '';
  textPtr = 0;
  textLen = 0;
  if (ok) return config;
  config.release();
  return null;
}

function read(): bool {
  if (textLen > MAX_CONFIG_CHARS) return syntax(ascii('larger than 64 KiB'));
  const c = ws();
  if (c < 0) return true;
  if (c != 0x7b) return syntax(ascii('expected an object'));
  at++;
  if (ws() == 0x7d) {
    at++;
  } else if (!members(0)) {
    return false;
  }
  if (ws() >= 0) return syntax(ascii('unexpected text'));
  return true;
}

/** Members of an object up to its closing brace; depth 1 = inside `headers`. */
function members(depth: i32): bool {
  let count = 0;
  while (true) {
    if (ws() != 0x22) return syntax(ascii('expected a member name'));
    const key = str();
    if (key === null) return false;
    if (ws() != 0x3a) return syntax(ascii("expected ':'"));
    at++;
    ws();
    if (!(depth == 0 ? setting(key) : extraHeader(key, ++count))) return false;
    const c = ws();
    at++;
    if (c == 0x7d) return true;
    if (c != 0x2c) {
      at--;
      return syntax(ascii("expected ',' or '}'"));
    }
  }
}

/** The known settings; `setting` dispatches on the index. The first six take strings. */
const SETTINGS: StaticArray<usize> = [
  ascii('cluster'),
  ascii('authority'),
  ascii('path'),
  ascii('message'),
  ascii('route_header'),
  ascii('mode'),
  ascii('tick_ms'),
  ascii('timeout_ms'),
  ascii('max_keys'),
  ascii('max_pending'),
  ascii('hash_authority'),
  ascii('headers'),
];
const CLUSTER = 0;
const AUTHORITY = 1;
const MESSAGE = 3;
const ROUTE_HEADER = 4;
const MODE = 5;
const TICK_MS = 6;
const TIMEOUT_MS = 7;
const MAX_KEYS = 8;
const MAX_PENDING = 9;
const HASH_AUTHORITY = 10;

/** The position of the string at `p` in `list` (`ascii()` byte strings), or -1. Raw reads (the
 * string is held by the caller), so no managed value crosses a call. */
function indexIn(list: StaticArray<usize>, p: usize): i32 {
  const n = (<usize>load<u32>(p - 4)) >> 1;
  for (let i = 0; i < list.length; i++) {
    const q = unchecked(list[i]);
    if (<usize>load<u16>(q) != n) continue;
    let j: usize = 0;
    while (j < n && load<u16>(p + (j << 1)) == <u16>load<u8>(q + 2 + j)) j++;
    if (j == n) return i;
  }
  return -1;
}

function setting(keyString: string): bool {
  // Raw from here on (the caller holds the string), so passing it costs no shadow-stack slot.
  const key = changetype<usize>(keyString);
  const cfg = config;
  const k = indexIn(SETTINGS, key);
  if (k < 0) return field(key, ascii('is not a known setting'));
  if (k <= MODE) {
    const s = stringValue(key);
    if (s === null) return false;
    if (k == MESSAGE) {
      put(changetype<usize>(cfg) + offsetof<Config>('message'), changetype<usize>(s));
    } else if (k == ROUTE_HEADER) {
      if (firstUnit(changetype<usize>(s)) == 0x3a)
        return field(key, ascii('must not be a pseudo-header'));
      put(
        changetype<usize>(cfg) + offsetof<Config>('routeHeader'),
        changetype<usize>(asciiLower(s)),
      );
    } else if (k == MODE) {
      if (s == 'heartbeat') cfg.mode = Mode.Heartbeat;
      else if (s == 'traffic') cfg.mode = Mode.Traffic;
      else if (s == 'istio') cfg.mode = Mode.Istio;
      else return field(key, ascii('must be "heartbeat", "traffic" or "istio"'));
    } else if (s.length == 0) {
      return field(key, ascii('must not be empty'));
    } else if (k == CLUSTER) {
      put(changetype<usize>(cfg) + offsetof<Config>('cluster'), changetype<usize>(s));
    } else if (k == AUTHORITY) {
      put(changetype<usize>(cfg) + offsetof<Config>('authority'), changetype<usize>(s));
    } else {
      if (firstUnit(changetype<usize>(s)) != 0x2f) return field(key, ascii("must start with '/'"));
      put(changetype<usize>(cfg) + offsetof<Config>('path'), changetype<usize>(s));
    }
    return true;
  }
  if (k == TICK_MS) return intValue(key, k, 1, 86400000);
  if (k == TIMEOUT_MS) return intValue(key, k, 1, 3600000);
  if (k == MAX_KEYS) return intValue(key, k, 1, 10000);
  if (k == MAX_PENDING) return intValue(key, k, 1, 1000);
  if (k == HASH_AUTHORITY) {
    const b = boolValue();
    if (b < 0) return field(key, ascii('must be true or false'));
    cfg.hashAuthority = b > 0;
    return true;
  }
  // the last one: headers
  if (peek() != 0x7b) return field(key, ascii('must be an object of strings'));
  at++;
  put(changetype<usize>(cfg) + offsetof<Config>('headers'), changetype<usize>(new Array<string>()));
  if (ws() == 0x7d) {
    at++;
    return true;
  }
  return members(1);
}

function extraHeader(name: string, count: i32): bool {
  const keyString = 'headers.' + name;
  const key = changetype<usize>(keyString);
  if (count > MAX_EXTRA_HEADERS)
    return field(changetype<usize>('headers'), ascii('has more than 32 entries'));
  if (name.length == 0 || name.length > 256 || badChars(changetype<usize>(name), true))
    return field(key, ascii('is not a valid header name'));
  if (indexIn(RESERVED_HEADERS, changetype<usize>(asciiLower(name))) >= 0)
    return field(key, ascii('is set by the plugin'));
  const value = stringValue(key);
  if (value === null) return false;
  const headers = config.headers;
  headers.push(name);
  headers.push(value);
  return true;
}

function stringValue(key: usize): string | null {
  if (peek() != 0x22) {
    field(key, ascii('must be a string'));
    return null;
  }
  const s = str();
  if (s === null) return null;
  if (s.length > MAX_STRING_CHARS || badChars(changetype<usize>(s), false)) {
    field(key, ascii('must be at most 4096 characters without NUL, CR or LF'));
    return null;
  }
  return s;
}

function intValue(key: usize, k: i32, min: i32, max: i32): bool {
  const c = peek();
  if (c != 0x2d && (c < 0x30 || c > 0x39)) return field(key, ascii('must be an integer'));
  const n = num();
  if (isNaN(n)) return false;
  if (Math.floor(n) != n || n < <f64>min || n > <f64>max) {
    if (!refused) {
      field(key, ascii('must be an integer from ~ to ~'));
      wU64(min);
      wNext();
      wU64(max);
      wNext();
    }
    return false;
  }
  const cfg = config;
  const v = <i32>n;
  if (k == TICK_MS) cfg.tickMs = v;
  else if (k == TIMEOUT_MS) cfg.timeoutMs = v;
  else if (k == MAX_KEYS) cfg.maxKeys = v;
  else cfg.maxPending = v;
  return true;
}

/** A JSON number (RFC 8259 grammar); NaN with `error` set when malformed. */
function num(): f64 {
  const negative = peek() == 0x2d;
  if (negative) at++;
  let value: f64 = 0;
  let scale: i32 = 0;
  let digits = 0;
  let c = peek();
  if (c == 0x30) {
    at++;
    digits = 1;
  } else {
    for (; c >= 0x30 && c <= 0x39; c = charAt(++at), digits++) value = value * 10 + <f64>(c - 0x30);
  }
  if (digits > 0 && peek() == 0x2e) {
    at++;
    digits = 0;
    for (c = peek(); c >= 0x30 && c <= 0x39; c = charAt(++at), digits++, scale--)
      value = value * 10 + <f64>(c - 0x30);
  }
  c = peek();
  if (digits > 0 && (c == 0x65 || c == 0x45)) {
    c = charAt(++at);
    const minus = c == 0x2d;
    if (minus || c == 0x2b) c = charAt(++at);
    let exp = 0;
    for (digits = 0; c >= 0x30 && c <= 0x39; c = charAt(++at), digits++)
      exp = min(exp * 10 + (c - 0x30), 1000);
    scale += minus ? -exp : exp;
  }
  if (digits == 0) {
    syntax(ascii('invalid number'));
    return NaN;
  }
  // Exact for the integers a configuration holds; approximate but never trapping otherwise.
  for (; scale > 0; scale--) value *= 10;
  for (; scale < 0; scale++) value /= 10;
  return negative ? -value : value;
}

/** A JSON string literal starting at the opening quote; null with `error` set when malformed. */
function str(): string | null {
  let out = '';
  let run = ++at;
  while (true) {
    const c = peek();
    if (c < 0x20) {
      syntax(c < 0 ? ascii('unterminated string') : ascii('control character in string'));
      return null;
    }
    at++;
    if (c == 0x22) return out + text.substring(run, at - 1);
    if (c != 0x5c) continue;
    out += text.substring(run, at - 1);
    const e = peek();
    at++;
    let code = e;
    if (e == 0x62) code = 8;
    else if (e == 0x66) code = 12;
    else if (e == 0x6e) code = 10;
    else if (e == 0x72) code = 13;
    else if (e == 0x74) code = 9;
    else if (e == 0x75) {
      code = 0;
      for (let i = 0; i < 4; i++) {
        const h = peek() | 0x20; // lower-cases hex letters, keeps digits
        const d = h >= 0x30 && h <= 0x39 ? h - 0x30 : h >= 0x61 && h <= 0x66 ? h - 0x57 : -1;
        if (d < 0) {
          syntax(ascii('invalid \\u escape'));
          return null;
        }
        code = (code << 4) | d;
        at++;
      }
    } else if (e != 0x22 && e != 0x5c && e != 0x2f) {
      at--;
      syntax(ascii('invalid escape'));
      return null;
    }
    out += String.fromCharCode(code);
    run = at;
  }
}

/** Reads a JSON `true` or `false`: 1 or 0, or -1 (nothing consumed) for anything else. The
 * UTF-16 text is compared as 64-bit words: 't','r','u','e' and 'f','a','l','s' (little-endian). */
function boolValue(): i32 {
  const p = textPtr + ((<usize>at) << 1);
  if (at + 4 <= textLen && load<u64>(p) == 0x0065_0075_0072_0074) {
    at += 4;
    return 1;
  }
  if (at + 5 <= textLen && load<u64>(p) == 0x0073_006c_0061_0066 && load<u16>(p, 8) == 0x65) {
    at += 5;
    return 0;
  }
  return -1;
}

/** The first UTF-16 unit of `s`, or -1 when it is empty. */
function firstUnit(p: usize): i32 {
  return load<u32>(p - 4) == 0 ? -1 : <i32>load<u16>(p);
}

/** NUL, CR, LF (and, for header names, space and ':') are refused. */
function badChars(s: usize, name: bool): bool {
  const end = s + <usize>load<u32>(s - 4);
  for (let p = s; p < end; p += 2) {
    const c = <i32>load<u16>(p);
    if (c == 0 || c == 0x0a || c == 0x0d || (name && (c == 0x20 || c == 0x3a))) return true;
  }
  return false;
}

/** Header names are ASCII; Envoy keeps them lower-case. */
function asciiLower(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out += String.fromCharCode(c >= 0x41 && c <= 0x5a ? c + 0x20 : c);
  }
  return out;
}
