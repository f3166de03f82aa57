// A compact JSON reader for the plugin configuration (RFC 8259). It never traps: errors are
// reported through `JsonParser.error` with the offset where parsing stopped.

export const enum Kind {
  Null = 0,
  Bool = 1,
  Number = 2,
  String = 3,
  Array = 4,
  Object = 5,
}

export class JsonValue {
  kind: Kind = Kind.Null;
  bool: bool = false;
  num: f64 = 0;
  str: string = '';
  items: JsonValue[] = [];
  /** Object members in document order; a repeated key is kept as written (callers look up the last). */
  keys: string[] = [];

  get(key: string): JsonValue | null {
    for (let i = this.keys.length - 1; i >= 0; i--) {
      if (this.keys[i] == key) return this.items[i];
    }
    return null;
  }

  kindName(): string {
    switch (this.kind) {
      case Kind.Null: return 'null';
      case Kind.Bool: return 'a boolean';
      case Kind.Number: return 'a number';
      case Kind.String: return 'a string';
      case Kind.Array: return 'an array';
      default: return 'an object';
    }
  }
}

const MAX_DEPTH = 32;

export class JsonParser {
  private at: i32 = 0;
  error: string = '';

  constructor(private text: string) {}

  /** The document's value, or null with `error` set. */
  parse(): JsonValue | null {
    const value = this.value(0);
    if (value === null) return null;
    this.space();
    if (this.at < this.text.length) return this.fail('unexpected text after the value');
    return value;
  }

  private fail(what: string): JsonValue | null {
    if (this.error.length == 0) this.error = what + ' at offset ' + this.at.toString();
    return null;
  }

  private peek(): i32 {
    return this.at < this.text.length ? this.text.charCodeAt(this.at) : -1;
  }

  private space(): void {
    while (true) {
      const c = this.peek();
      if (c != 0x20 && c != 0x09 && c != 0x0a && c != 0x0d) return;
      this.at++;
    }
  }

  private literal(word: string): bool {
    if (this.text.substr(this.at, word.length) != word) return false;
    this.at += word.length;
    return true;
  }

  private value(depth: i32): JsonValue | null {
    if (depth > MAX_DEPTH) return this.fail('nested too deeply');
    this.space();
    const c = this.peek();
    const v = new JsonValue();
    if (c == 0x7b) return this.object(depth);
    if (c == 0x5b) return this.array(depth);
    if (c == 0x22) {
      const s = this.string();
      if (s === null) return null;
      v.kind = Kind.String;
      v.str = s;
      return v;
    }
    if (c == 0x2d || (c >= 0x30 && c <= 0x39)) return this.number();
    if (this.literal('true')) {
      v.kind = Kind.Bool;
      v.bool = true;
      return v;
    }
    if (this.literal('false')) {
      v.kind = Kind.Bool;
      return v;
    }
    if (this.literal('null')) return v;
    return this.fail(c < 0 ? 'unexpected end of input' : 'unexpected character');
  }

  private object(depth: i32): JsonValue | null {
    const v = new JsonValue();
    v.kind = Kind.Object;
    this.at++; // {
    this.space();
    if (this.peek() == 0x7d) {
      this.at++;
      return v;
    }
    while (true) {
      this.space();
      if (this.peek() != 0x22) return this.fail('expected a member name');
      const key = this.string();
      if (key === null) return null;
      this.space();
      if (this.peek() != 0x3a) return this.fail("expected ':'");
      this.at++;
      const item = this.value(depth + 1);
      if (item === null) return null;
      v.keys.push(key);
      v.items.push(item);
      this.space();
      const c = this.peek();
      this.at++;
      if (c == 0x7d) return v;
      if (c != 0x2c) {
        this.at--;
        return this.fail("expected ',' or '}'");
      }
    }
  }

  private array(depth: i32): JsonValue | null {
    const v = new JsonValue();
    v.kind = Kind.Array;
    this.at++; // [
    this.space();
    if (this.peek() == 0x5d) {
      this.at++;
      return v;
    }
    while (true) {
      const item = this.value(depth + 1);
      if (item === null) return null;
      v.items.push(item);
      this.space();
      const c = this.peek();
      this.at++;
      if (c == 0x5d) return v;
      if (c != 0x2c) {
        this.at--;
        return this.fail("expected ',' or ']'");
      }
    }
  }

  private number(): JsonValue | null {
    const negative = this.peek() == 0x2d;
    if (negative) this.at++;
    let scale: i32 = 0;
    this.acc = 0;
    if (this.peek() == 0x30) this.at++;
    else if (this.digits() == 0) return this.fail('invalid number');
    if (this.peek() == 0x2e) {
      this.at++;
      const n = this.digits();
      if (n == 0) return this.fail('invalid number');
      scale = -n;
    }
    let value = this.acc;
    const e = this.peek();
    if (e == 0x65 || e == 0x45) {
      this.at++;
      const sign = this.peek();
      if (sign == 0x2b || sign == 0x2d) this.at++;
      this.acc = 0;
      if (this.digits() == 0) return this.fail('invalid number');
      const exp = this.acc > 1000 ? 1000 : <i32>this.acc;
      scale += sign == 0x2d ? -exp : exp;
    }
    // Exact for the integers a configuration holds; approximate (never trapping) otherwise.
    for (; scale > 0; scale--) value *= 10;
    for (; scale < 0; scale++) value /= 10;
    const v = new JsonValue();
    v.kind = Kind.Number;
    v.num = negative ? -value : value;
    return v;
  }

  /** Digits accumulated into `acc`, which continues from its current value. */
  private acc: f64 = 0;

  /** Consumes a run of digits into `acc`; returns how many there were. */
  private digits(): i32 {
    const start = this.at;
    while (true) {
      const c = this.peek();
      if (c < 0x30 || c > 0x39) break;
      this.acc = this.acc * 10 + <f64>(c - 0x30);
      this.at++;
    }
    return this.at - start;
  }

  private string(): string | null {
    this.at++; // opening quote
    const parts = new Array<string>();
    let runStart = this.at;
    while (true) {
      const c = this.peek();
      if (c < 0) {
        this.fail('unterminated string');
        return null;
      }
      if (c < 0x20) {
        this.fail('control character in string');
        return null;
      }
      if (c == 0x22) {
        parts.push(this.text.substring(runStart, this.at));
        this.at++;
        return parts.join('');
      }
      if (c != 0x5c) {
        this.at++;
        continue;
      }
      parts.push(this.text.substring(runStart, this.at));
      this.at++; // backslash
      const e = this.peek();
      this.at++;
      if (e == 0x22 || e == 0x5c || e == 0x2f) parts.push(String.fromCharCode(e));
      else if (e == 0x62) parts.push('\b');
      else if (e == 0x66) parts.push('\f');
      else if (e == 0x6e) parts.push('\n');
      else if (e == 0x72) parts.push('\r');
      else if (e == 0x74) parts.push('\t');
      else if (e == 0x75) {
        let code = 0;
        for (let i = 0; i < 4; i++) {
          const h = this.peek();
          this.at++;
          let d = -1;
          if (h >= 0x30 && h <= 0x39) d = h - 0x30;
          else if (h >= 0x61 && h <= 0x66) d = h - 0x61 + 10;
          else if (h >= 0x41 && h <= 0x46) d = h - 0x41 + 10;
          if (d < 0) {
            this.at--;
            this.fail('invalid \\u escape');
            return null;
          }
          code = (code << 4) | d;
        }
        parts.push(String.fromCharCode(code));
      } else {
        this.at--;
        this.fail('invalid escape');
        return null;
      }
      runStart = this.at;
    }
  }
}
