// An append-only byte buffer for building JSON report bodies and log lines without intermediate
// strings.
// One module-level buffer in unmanaged memory (bodies are built one at a time): it grows to the
// largest body once and is reused. Strings come in as raw pointers (`changetype<usize>(s)`), so no
// managed reference crosses a call here and the incremental runtime's shadow stack stays out.

import { proxy_log } from './env';

let buf: usize = 0;
let cap: i32 = 0;
let len: i32 = 0;

function strLen(p: usize): i32 {
  // The runtime header's rtSize (bytes of UTF-16) sits just before the payload.
  return <i32>(load<u32>(p - 4) >> 1);
}

function reserve(extra: i32): usize {
  const need = len + extra;
  if (need > cap) {
    let next = cap < 1024 ? 1024 : cap << 1;
    while (next < need) next <<= 1;
    buf = buf == 0 ? heap.alloc(<usize>next) : heap.realloc(buf, <usize>next);
    cap = next;
  }
  return buf + <usize>len;
}

export function wByte(c: i32): void {
  store<u8>(reserve(1), <u8>c);
  len++;
}

/** Appends a string known to be ASCII (field names, punctuation). */
export function wAscii(s: usize): void {
  const n = strLen(s);
  const at = reserve(n);
  for (let i = 0; i < n; i++) store<u8>(at + i, load<u8>(s + ((<usize>i) << 1)));
  len += n;
}

/** Appends a byte string made by `ascii('...')` (see ascii-transform.mjs): a u16 length, then the bytes. */
export function wBytes(b: usize): void {
  const n = <i32>load<u16>(b);
  memory.copy(reserve(n), b + 2, <usize>n);
  len += n;
}

/** Bytes written so far. */
export function wLength(): i32 {
  return len;
}

/** Appends `n` zero bytes (room filled in later with `wPatchU32`). */
export function wZeros(n: i32): void {
  memory.fill(reserve(n), 0, <usize>n);
  len += n;
}

/** Overwrites the u32 at offset `at` of what was written. */
export function wPatchU32(at: i32, v: u32): void {
  store<u32>(buf + <usize>at, v);
}

let template: usize = 0;
let templateAt: i32 = 0;

/** Starts writing the template `t` (an `ascii('...')` byte string), in which '~' marks each place a value goes: writes it up
 * to its first mark. Each `wNext()` then writes on to the next mark (or the end). */
export function wTemplate(t: usize): void {
  template = t;
  templateAt = 0;
  wNext();
}

export function wNext(): void {
  const n = <i32>load<u16>(template);
  let i = templateAt;
  while (i < n) {
    const c = <i32>load<u8>(template + 2 + <usize>i);
    i++;
    if (c == 0x7e) break;
    wByte(c);
  }
  templateAt = i;
}

/** Appends a JSON string literal; everything outside printable ASCII is \u-escaped so the body is pure ASCII. */
export function wJsonString(s: usize): void {
  wByte(0x22);
  const n = strLen(s);
  for (let i = 0; i < n; i++) {
    const c = <i32>load<u16>(s + ((<usize>i) << 1));
    if (c == 0x22 || c == 0x5c) {
      wByte(0x5c);
      wByte(c);
    } else if (c < 0x20 || c >= 0x7f) {
      wByte(0x5c);
      wByte(0x75);
      for (let shift = 12; shift >= 0; shift -= 4) {
        const d = (c >> shift) & 15;
        wByte(d < 10 ? 0x30 + d : 0x57 + d);
      }
    } else {
      wByte(c);
    }
  }
  wByte(0x22);
}

/** Appends UTF-16 text as UTF-8 (for log lines; report bodies stay ASCII). */
export function wUtf8(s: usize): void {
  const n = strLen(s);
  const at = reserve(n * 3);
  len += <i32>String.UTF8.encodeUnsafe(s, n, at);
}

/** Appends `n` in decimal, with a '-' when negative. */
export function wDecimal(n: i64): void {
  if (n < 0) wByte(0x2d);
  wU64(<u64>(n < 0 ? -n : n));
}

/** Ends a log line started with `wTemplate`: writes the rest of the template, logs the line at
 * `level` and empties the buffer. */
export function wLog(level: i32): void {
  wNext();
  proxy_log(level, buf, len);
  len = 0;
}

/** Logs what the buffer holds with `prefix` (an `ascii('...')` byte string) in front, and empties
 * the buffer. */
export function wLogAfter(level: i32, prefix: usize): void {
  const n = <i32>load<u16>(prefix);
  reserve(n);
  memory.copy(buf + <usize>n, buf, <usize>len);
  memory.copy(buf, prefix + 2, <usize>n);
  len += n;
  proxy_log(level, buf, len);
  len = 0;
}

export function wU64(n: u64): void {
  if (n >= 10) wU64(n / 10);
  wByte(0x30 + <i32>(n % 10));
}

/** Nanoseconds as milliseconds with three decimals (microsecond precision). */
export function wMillisFromNanos(ns: u64): void {
  const micros = ns / 1000;
  wU64(micros / 1000);
  wByte(0x2e);
  const frac = <i32>(micros % 1000);
  wByte(0x30 + frac / 100);
  wByte(0x30 + ((frac / 10) % 10));
  wByte(0x30 + (frac % 10));
}

/** A copy of what was written; the buffer is then empty again and keeps its capacity for the next body. */
export function wTake(): ArrayBuffer {
  const out = changetype<ArrayBuffer>(__new(<usize>len, idof<ArrayBuffer>()));
  memory.copy(changetype<usize>(out), buf, <usize>len);
  len = 0;
  return out;
}
