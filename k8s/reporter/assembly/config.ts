// The plugin configuration: defaults, JSON reading and per-field validation. A rejected
// configuration names the field so the CRITICAL log line tells the operator what to fix.

import { JsonParser, JsonValue, Kind } from './json';

export const enum Mode {
  Heartbeat = 0,
  Traffic = 1,
}

const MAX_CONFIG_CHARS = 65536;
const MAX_EXTRA_HEADERS = 32;

export class Config {
  cluster: string = 'outbound|7171||mesha.istio12.svc.cluster.local';
  authority: string = 'mesha.istio12.svc.cluster.local';
  path: string = '/wasmCallback';
  tickMs: u32 = 5000;
  timeoutMs: u32 = 5000;
  message: string = 'my header from wasm envoy reporter';
  headerNames: string[] = [];
  headerValues: string[] = [];
  mode: Mode = Mode.Heartbeat;
  /** Lower-case header name whose value is the route key; '' = use the first path segment. */
  routeHeader: string = '';
  maxKeys: i32 = 64;
  maxPending: i32 = 12;
}

/** Outcome of reading a configuration: the config, or the reason it was refused. */
export class ConfigResult {
  constructor(public config: Config | null, public error: string) {}
}

function isBlank(s: string): bool {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c != 0x20 && c != 0x09 && c != 0x0a && c != 0x0d) return false;
  }
  return true;
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

function hasForbiddenChar(s: string): bool {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c == 0 || c == 0x0a || c == 0x0d) return true;
  }
  return false;
}

/** A string field; '' in `error` when valid. */
function readString(v: JsonValue, field: string, allowEmpty: bool): string {
  if (v.kind != Kind.String) return "field '" + field + "' must be a string, got " + v.kindName();
  if (!allowEmpty && v.str.length == 0) return "field '" + field + "' must not be empty";
  if (v.str.length > 4096) return "field '" + field + "' is longer than 4096 characters";
  if (hasForbiddenChar(v.str)) return "field '" + field + "' must not contain NUL, CR or LF";
  return '';
}

function readInt(v: JsonValue, field: string, min: f64, max: f64): string {
  if (v.kind != Kind.Number) return "field '" + field + "' must be an integer, got " + v.kindName();
  const n = v.num;
  if (!isFinite(n) || Math.floor(n) != n || n < min || n > max) {
    return "field '" + field + "' must be an integer from " + (<i64>min).toString() + ' to ' + (<i64>max).toString();
  }
  return '';
}

export function parseConfig(text: string): ConfigResult {
  const config = new Config();
  if (isBlank(text)) return new ConfigResult(config, '');
  if (text.length > MAX_CONFIG_CHARS) return new ConfigResult(null, 'configuration is larger than 64 KiB');
  const parser = new JsonParser(text);
  const root = parser.parse();
  if (root === null) return new ConfigResult(null, 'configuration is not valid JSON: ' + parser.error);
  if (root.kind != Kind.Object) return new ConfigResult(null, 'configuration must be a JSON object, got ' + root.kindName());

  for (let i = 0; i < root.keys.length; i++) {
    const field = root.keys[i];
    const v = root.items[i];
    let error = '';
    if (field == 'cluster' || field == 'authority' || field == 'path') {
      error = readString(v, field, false);
      if (error.length == 0) {
        if (field == 'cluster') config.cluster = v.str;
        else if (field == 'authority') config.authority = v.str;
        else if (!v.str.startsWith('/')) error = "field 'path' must start with '/'";
        else config.path = v.str;
      }
    } else if (field == 'message') {
      error = readString(v, field, true);
      if (error.length == 0) config.message = v.str;
    } else if (field == 'tick_ms') {
      error = readInt(v, field, 1, 86400000);
      if (error.length == 0) config.tickMs = <u32>v.num;
    } else if (field == 'timeout_ms') {
      error = readInt(v, field, 1, 3600000);
      if (error.length == 0) config.timeoutMs = <u32>v.num;
    } else if (field == 'max_keys') {
      error = readInt(v, field, 1, 10000);
      if (error.length == 0) config.maxKeys = <i32>v.num;
    } else if (field == 'max_pending') {
      error = readInt(v, field, 1, 1000);
      if (error.length == 0) config.maxPending = <i32>v.num;
    } else if (field == 'mode') {
      if (v.kind != Kind.String) error = "field 'mode' must be a string, got " + v.kindName();
      else if (v.str == 'heartbeat') config.mode = Mode.Heartbeat;
      else if (v.str == 'traffic') config.mode = Mode.Traffic;
      else error = "field 'mode' must be \"heartbeat\" or \"traffic\"";
    } else if (field == 'route_header') {
      error = readString(v, field, true);
      if (error.length == 0) {
        if (v.str.startsWith(':')) error = "field 'route_header' must not be a pseudo-header";
        else config.routeHeader = asciiLower(v.str);
      }
    } else if (field == 'headers') {
      error = readHeaders(v, config);
    } else {
      error = "field '" + field + "' is not a known setting";
    }
    if (error.length > 0) return new ConfigResult(null, error);
  }
  return new ConfigResult(config, '');
}

function readHeaders(v: JsonValue, config: Config): string {
  if (v.kind != Kind.Object) return "field 'headers' must be an object of strings, got " + v.kindName();
  if (v.keys.length > MAX_EXTRA_HEADERS) return "field 'headers' has more than 32 entries";
  const names = new Array<string>();
  const values = new Array<string>();
  for (let i = 0; i < v.keys.length; i++) {
    const name = v.keys[i];
    const field = 'headers.' + name;
    if (name.length == 0 || name.length > 256 || hasForbiddenChar(name) || name.includes(' ') || name.includes(':')) {
      return "field '" + field + "' is not a valid header name";
    }
    const error = readString(v.items[i], field, true);
    if (error.length > 0) return error;
    names.push(name);
    values.push(v.items[i].str);
  }
  config.headerNames = names;
  config.headerValues = values;
  return '';
}
