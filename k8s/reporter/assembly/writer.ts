// An append-only ASCII byte buffer for building JSON report bodies without intermediate strings.

export class Writer {
  private buf: ArrayBuffer;
  private len: i32 = 0;

  constructor(capacity: i32 = 1024) {
    this.buf = new ArrayBuffer(capacity);
  }

  private reserve(extra: i32): void {
    const need = this.len + extra;
    if (need <= this.buf.byteLength) return;
    let cap = this.buf.byteLength << 1;
    while (cap < need) cap <<= 1;
    const grown = new ArrayBuffer(cap);
    memory.copy(changetype<usize>(grown), changetype<usize>(this.buf), this.len);
    this.buf = grown;
  }

  byte(c: i32): Writer {
    this.reserve(1);
    store<u8>(changetype<usize>(this.buf) + this.len, <u8>c);
    this.len++;
    return this;
  }

  /** Appends a string known to be ASCII (field names, punctuation). */
  ascii(s: string): Writer {
    const n = s.length;
    this.reserve(n);
    const base = changetype<usize>(this.buf) + this.len;
    for (let i = 0; i < n; i++) store<u8>(base + i, <u8>s.charCodeAt(i));
    this.len += n;
    return this;
  }

  /** Appends a JSON string literal; everything outside printable ASCII is \u-escaped so the body is pure ASCII. */
  jsonString(s: string): Writer {
    this.byte(0x22);
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c == 0x22 || c == 0x5c) {
        this.byte(0x5c).byte(c);
      } else if (c < 0x20 || c >= 0x7f) {
        this.ascii('\\u');
        for (let shift = 12; shift >= 0; shift -= 4) {
          const d = (c >> shift) & 15;
          this.byte(d < 10 ? 0x30 + d : 0x57 + d);
        }
      } else {
        this.byte(c);
      }
    }
    return this.byte(0x22);
  }

  u64(n: u64): Writer {
    if (n >= 10) this.u64(n / 10);
    return this.byte(0x30 + <i32>(n % 10));
  }

  /** Nanoseconds as milliseconds with three decimals (microsecond precision). */
  millisFromNanos(ns: u64): Writer {
    const micros = ns / 1000;
    this.u64(micros / 1000).byte(0x2e);
    const frac = <i32>(micros % 1000);
    return this.byte(0x30 + frac / 100)
      .byte(0x30 + ((frac / 10) % 10))
      .byte(0x30 + (frac % 10));
  }

  /** A copy of what was written; the writer is then empty again and keeps its capacity for the next body. */
  take(): ArrayBuffer {
    const out = this.buf.slice(0, this.len);
    this.len = 0;
    return out;
  }
}
