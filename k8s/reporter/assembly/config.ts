// The plugin configuration: defaults, and a streaming JSON reader that checks each field as it
// meets it. A refused configuration names the field, so the CRITICAL log line says what to fix.
// It never traps: every error ends parsing with a message.

import { decimal } from './host';

export const enum Mode {
  Heartbeat = 0,
  Traffic = 1,
}

export class Config {
  cluster: string = 'outbound|7171||mesha.istio12.svc.cluster.local';
  authority: string = 'mesha.istio12.svc.cluster.local';
  path: string = '/wasmCallback';
  tickMs: u32 = 5000;
  timeoutMs: u32 = 5000;
  message: string = 'my header from wasm envoy reporter';
  /** Extra headers, name and value alternating. */
  headers: string[] = [];
  mode: Mode = Mode.Heartbeat;
  /** Lower-case header name whose value is the route key; '' = use the first path segment. */
  routeHeader: string = '';
  maxKeys: i32 = 64;
  maxPending: i32 = 12;
}

const MAX_CONFIG_CHARS = 65536;
const MAX_STRING_CHARS = 4096;
const MAX_EXTRA_HEADERS = 32;
/** Headers the plugin sets itself (or the proxy derives): an extra one would duplicate or contradict them. */
const RESERVED_HEADERS: string[] = [
  'accept',
  'content-type',
  'content-length',
  'host',
  'melonmsg',
  'x-mesha-reporter',
];

/** Reads one configuration; `error` is '' when it was accepted. */
export class ConfigReader {
  private at: i32 = 0;
  error: string = '';
  config: Config = new Config();

  constructor(private text: string) {}

  private peek(): i32 {
    return this.at < this.text.length ? this.text.charCodeAt(this.at) : -1;
  }

  private ws(): i32 {
    let c = this.peek();
    while (c == 0x20 || c == 0x09 || c == 0x0a || c == 0x0d) c = this.text.charCodeAt(++this.at);
    return this.peek();
  }

  private syntax(what: string): bool {
    if (this.error.length == 0)
      this.error = 'not valid JSON: ' + what + ' at offset ' + decimal(this.at);
    return false;
  }

  private field(name: string, what: string): bool {
    if (this.error.length == 0) this.error = "field '" + name + "' " + what;
    return false;
  }

  /** Accepts (true) or refuses the whole text. Empty text means every default. */
  read(): bool {
    if (this.text.length > MAX_CONFIG_CHARS) return this.syntax('larger than 64 KiB');
    let c = this.ws();
    if (c < 0) return true;
    if (c != 0x7b) return this.syntax('expected an object');
    this.at++;
    if (this.ws() == 0x7d) {
      this.at++;
    } else if (!this.members(0)) {
      return false;
    }
    if (this.ws() >= 0) return this.syntax('unexpected text');
    return true;
  }

  /** Members of an object up to its closing brace; depth 1 = inside `headers`. */
  private members(depth: i32): bool {
    let count = 0;
    while (true) {
      if (this.ws() != 0x22) return this.syntax('expected a member name');
      const key = this.str();
      if (key === null) return false;
      if (this.ws() != 0x3a) return this.syntax("expected ':'");
      this.at++;
      this.ws();
      if (!(depth == 0 ? this.setting(key) : this.extraHeader(key, ++count))) return false;
      const c = this.ws();
      this.at++;
      if (c == 0x7d) return true;
      if (c != 0x2c) {
        this.at--;
        return this.syntax("expected ',' or '}'");
      }
    }
  }

  private setting(key: string): bool {
    const cfg = this.config;
    if (
      key == 'cluster' ||
      key == 'authority' ||
      key == 'path' ||
      key == 'message' ||
      key == 'route_header' ||
      key == 'mode'
    ) {
      const s = this.stringValue(key);
      if (s === null) return false;
      if (key == 'message') {
        cfg.message = s;
      } else if (key == 'route_header') {
        if (s.startsWith(':')) return this.field(key, 'must not be a pseudo-header');
        cfg.routeHeader = asciiLower(s);
      } else if (key == 'mode') {
        if (s == 'heartbeat') cfg.mode = Mode.Heartbeat;
        else if (s == 'traffic') cfg.mode = Mode.Traffic;
        else return this.field(key, 'must be "heartbeat" or "traffic"');
      } else if (s.length == 0) {
        return this.field(key, 'must not be empty');
      } else if (key == 'cluster') {
        cfg.cluster = s;
      } else if (key == 'authority') {
        cfg.authority = s;
      } else {
        if (!s.startsWith('/')) return this.field(key, "must start with '/'");
        cfg.path = s;
      }
      return true;
    }
    if (key == 'tick_ms') return this.intValue(key, 1, 86400000);
    if (key == 'timeout_ms') return this.intValue(key, 1, 3600000);
    if (key == 'max_keys') return this.intValue(key, 1, 10000);
    if (key == 'max_pending') return this.intValue(key, 1, 1000);
    if (key == 'headers') {
      if (this.peek() != 0x7b) return this.field(key, 'must be an object of strings');
      this.at++;
      cfg.headers = [];
      if (this.ws() == 0x7d) {
        this.at++;
        return true;
      }
      return this.members(1);
    }
    return this.field(key, 'is not a known setting');
  }

  private extraHeader(name: string, count: i32): bool {
    const key = 'headers.' + name;
    if (count > MAX_EXTRA_HEADERS) return this.field('headers', 'has more than 32 entries');
    if (name.length == 0 || name.length > 256 || badChars(name, true))
      return this.field(key, 'is not a valid header name');
    if (RESERVED_HEADERS.includes(asciiLower(name))) return this.field(key, 'is set by the plugin');
    const value = this.stringValue(key);
    if (value === null) return false;
    this.config.headers.push(name);
    this.config.headers.push(value);
    return true;
  }

  private stringValue(key: string): string | null {
    if (this.peek() != 0x22) {
      this.field(key, 'must be a string');
      return null;
    }
    const s = this.str();
    if (s === null) return null;
    if (s.length > MAX_STRING_CHARS || badChars(s, false)) {
      this.field(key, 'must be at most 4096 characters without NUL, CR or LF');
      return null;
    }
    return s;
  }

  private intValue(key: string, min: i32, max: i32): bool {
    const c = this.peek();
    if (c != 0x2d && (c < 0x30 || c > 0x39)) return this.field(key, 'must be an integer');
    const n = this.num();
    if (isNaN(n)) return false;
    if (Math.floor(n) != n || n < <f64>min || n > <f64>max) {
      return this.field(key, 'must be an integer from ' + decimal(min) + ' to ' + decimal(max));
    }
    const cfg = this.config;
    const v = <i32>n;
    if (key == 'tick_ms') cfg.tickMs = v;
    else if (key == 'timeout_ms') cfg.timeoutMs = v;
    else if (key == 'max_keys') cfg.maxKeys = v;
    else cfg.maxPending = v;
    return true;
  }

  /** A JSON number (RFC 8259 grammar); NaN with `error` set when malformed. */
  private num(): f64 {
    const negative = this.peek() == 0x2d;
    if (negative) this.at++;
    let value: f64 = 0;
    let scale: i32 = 0;
    let digits = 0;
    let c = this.peek();
    if (c == 0x30) {
      this.at++;
      digits = 1;
    } else {
      for (; c >= 0x30 && c <= 0x39; c = this.text.charCodeAt(++this.at), digits++)
        value = value * 10 + <f64>(c - 0x30);
    }
    if (digits > 0 && this.peek() == 0x2e) {
      this.at++;
      digits = 0;
      for (
        c = this.peek();
        c >= 0x30 && c <= 0x39;
        c = this.text.charCodeAt(++this.at), digits++, scale--
      )
        value = value * 10 + <f64>(c - 0x30);
    }
    c = this.peek();
    if (digits > 0 && (c == 0x65 || c == 0x45)) {
      c = this.text.charCodeAt(++this.at);
      const minus = c == 0x2d;
      if (minus || c == 0x2b) c = this.text.charCodeAt(++this.at);
      let exp = 0;
      for (digits = 0; c >= 0x30 && c <= 0x39; c = this.text.charCodeAt(++this.at), digits++)
        exp = min(exp * 10 + (c - 0x30), 1000);
      scale += minus ? -exp : exp;
    }
    if (digits == 0) {
      this.syntax('invalid number');
      return NaN;
    }
    // Exact for the integers a configuration holds; approximate but never trapping otherwise.
    for (; scale > 0; scale--) value *= 10;
    for (; scale < 0; scale++) value /= 10;
    return negative ? -value : value;
  }

  /** A JSON string literal starting at the opening quote; null with `error` set when malformed. */
  private str(): string | null {
    let out = '';
    let run = ++this.at;
    while (true) {
      const c = this.peek();
      if (c < 0x20) {
        this.syntax(c < 0 ? 'unterminated string' : 'control character in string');
        return null;
      }
      this.at++;
      if (c == 0x22) return out + this.text.substring(run, this.at - 1);
      if (c != 0x5c) continue;
      out += this.text.substring(run, this.at - 1);
      const e = this.peek();
      this.at++;
      let code = e;
      if (e == 0x62) code = 8;
      else if (e == 0x66) code = 12;
      else if (e == 0x6e) code = 10;
      else if (e == 0x72) code = 13;
      else if (e == 0x74) code = 9;
      else if (e == 0x75) {
        code = 0;
        for (let i = 0; i < 4; i++) {
          const h = this.peek() | 0x20; // lower-cases hex letters, keeps digits
          const d = h >= 0x30 && h <= 0x39 ? h - 0x30 : h >= 0x61 && h <= 0x66 ? h - 0x57 : -1;
          if (d < 0) {
            this.syntax('invalid \\u escape');
            return null;
          }
          code = (code << 4) | d;
          this.at++;
        }
      } else if (e != 0x22 && e != 0x5c && e != 0x2f) {
        this.at--;
        this.syntax('invalid escape');
        return null;
      }
      out += String.fromCharCode(code);
      run = this.at;
    }
  }
}

/** NUL, CR, LF (and, for header names, space and ':') are refused. */
function badChars(s: string, name: bool): bool {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
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
