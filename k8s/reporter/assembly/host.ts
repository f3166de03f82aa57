// Thin bindings to the proxy-wasm ABI 0.2.1 host calls the reporter needs, and nothing else.
// Values the host returns are written into guest memory it obtained through our `malloc`
// export; every wrapper here copies what it needs and frees that block at once.

import {
  proxy_define_metric,
  proxy_get_buffer_bytes,
  proxy_get_current_time_nanoseconds,
  proxy_get_header_map_value,
  proxy_get_property,
  proxy_http_call,
  proxy_increment_metric,
  proxy_log,
  proxy_record_metric,
  proxy_set_tick_period_milliseconds,
} from './env';
import { random_get } from './wasi_snapshot_preview1';

export const enum Status {
  Ok = 0,
  NotFound = 1,
  BadArgument = 2,
  InternalFailure = 10,
}

export const enum LogLevel {
  Trace = 0,
  Debug = 1,
  Info = 2,
  Warn = 3,
  Error = 4,
  Critical = 5,
}

export const enum MapType {
  RequestHeaders = 0,
  ResponseHeaders = 2,
  HttpCallResponseHeaders = 6,
}

export const enum BufferType {
  VmConfiguration = 6,
  PluginConfiguration = 7,
}

export const enum MetricType {
  Counter = 0,
  Gauge = 1,
}

/** Two out-parameter slots (pointer, size) shared by every wrapper; calls never nest. */
const OUT: usize = memory.data(16);

/** The largest block the host may ask `malloc` for; past it we answer 0 (the host call then fails). */
const MAX_HOST_BLOCK: usize = 64 << 20;

export function hostAlloc(size: usize): usize {
  if (size > MAX_HOST_BLOCK) return 0;
  return heap.alloc(size == 0 ? 1 : size);
}

/** What the last successful getter left: a host block (from our `malloc`) and its size. The caller
 * reads it and calls `releaseValue()`; globals rather than an object, so reading a header allocates
 * nothing. */
export let valuePtr: usize = 0;
export let valueSize: usize = 0;

function takeOut(status: u32): bool {
  valuePtr = load<usize>(OUT);
  valueSize = load<usize>(OUT, 4);
  if (status == Status.Ok) return true;
  releaseValue();
  return false;
}

export function releaseValue(): void {
  if (valuePtr != 0) heap.free(valuePtr);
  valuePtr = 0;
  valueSize = 0;
}

/** Bytes `from`..`to` of the value as a string (UTF-8 decoded). */
export function valueText(from: usize, to: usize): string {
  return String.UTF8.decodeUnsafe(valuePtr + from, to - from);
}

function takeString(status: u32): string | null {
  if (!takeOut(status)) return null;
  const text = valueText(0, valueSize);
  releaseValue();
  return text;
}

function clearOut(): void {
  store<u64>(OUT, 0);
}

/** Logs straight from a static byte area: usable when allocating is not safe (abort). */
export function logRaw(level: LogLevel, ptr: usize, size: usize): void {
  proxy_log(level, ptr, size);
}

export function getBufferString(kind: BufferType, size: u32): string | null {
  clearOut();
  return takeString(proxy_get_buffer_bytes(kind, 0, size, OUT, OUT + 4));
}

/** Reads a header into `valuePtr`/`valueSize` (the caller must `releaseValue()`); false when
 * absent. `key` is the name in UTF-8 as an `ascii()` byte string (a u16 length, then the bytes),
 * passed raw so that it costs no shadow-stack slot. */
export function getHeader(kind: MapType, key: usize): bool {
  clearOut();
  return takeOut(proxy_get_header_map_value(kind, key + 2, load<u16>(key), OUT, OUT + 4));
}

/** A property as a string (Istio node metadata values are strings), or null when absent. `path`
 * is an `ascii()` byte string in which `sep` ('.' unless given) separates the segments (the host
 * wants them NUL-joined). */
export function getPropertyString(path: usize, sep: u8 = 0x2e): string | null {
  return getProperty(path, sep) ? takeValueString() : null;
}

/** Reads a property into `valuePtr`/`valueSize` (the caller must `releaseValue()`); false when absent. */
export function getProperty(path: usize, sep: u8 = 0x2e): bool {
  const n = <usize>load<u16>(path);
  const bytes = heap.alloc(n);
  for (let i: usize = 0; i < n; i++) {
    const c = load<u8>(path + 2 + i);
    store<u8>(bytes + i, c == sep ? 0 : c);
  }
  clearOut();
  const status = proxy_get_property(bytes, n, OUT, OUT + 4);
  heap.free(bytes);
  return takeOut(status);
}

/** The value just read as a string (UTF-8 decoded), released. */
export function takeValueString(): string {
  const text = valueText(0, valueSize);
  releaseValue();
  return text;
}

/** An integer property (Envoy: 8 bytes little-endian), or `missing` when absent or not 8 bytes. */
export function getPropertyInt(path: usize, missing: i64): i64 {
  if (!getProperty(path)) return missing;
  const v = valueSize == 8 ? load<i64>(valuePtr) : missing;
  releaseValue();
  return v;
}

export function nowNanos(): u64 {
  store<u64>(OUT, 0);
  proxy_get_current_time_nanoseconds(OUT);
  return load<u64>(OUT);
}

export function setTickPeriod(ms: u32): u32 {
  return proxy_set_tick_period_milliseconds(ms);
}

/** The token of the last dispatch `httpCall` made. */
export let callToken: u32 = 0;

/** `cluster` and `headers` are ArrayBuffers, passed raw (their byte length is the runtime
 * header's rtSize, just before the payload); the body is `bodySize` bytes at `body`. */
export function httpCall(
  cluster: usize,
  headers: usize,
  body: usize,
  bodySize: usize,
  timeoutMs: u32,
): u32 {
  store<u32>(OUT, 0);
  const status = proxy_http_call(
    cluster,
    load<u32>(cluster - 4),
    headers,
    load<u32>(headers - 4),
    body,
    bodySize,
    0,
    0,
    timeoutMs,
    OUT,
  );
  callToken = load<u32>(OUT);
  return status;
}

/** Defines a metric named by an `ascii('...')` byte string (a u16 length, then the bytes);
 * returns its id, or -1 when the host refused. */
export function defineMetric(kind: MetricType, name: usize): i64 {
  store<u32>(OUT, 0);
  const status = proxy_define_metric(kind, name + 2, load<u16>(name), OUT);
  return status == Status.Ok ? <i64>load<u32>(OUT) : -1;
}

export function incrementMetric(id: i64, by: u64): void {
  if (id >= 0 && by > 0) proxy_increment_metric(<u32>id, <i64>by);
}

export function recordMetric(id: i64, value: u64): void {
  if (id >= 0) proxy_record_metric(<u32>id, value);
}

/** 8 random bytes from WASI, mixed with the clock so a failing random_get still gives distinct ids. */
export function random64(): u64 {
  store<u64>(OUT, 0);
  random_get(OUT, 8);
  let x = load<u64>(OUT) ^ nowNanos();
  // splitmix64 finaliser: spreads the clock bits when random_get left zeros.
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9;
  x = (x ^ (x >> 27)) * 0x94d049bb133111eb;
  return x ^ (x >> 31);
}
