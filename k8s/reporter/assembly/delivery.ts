// Reports waiting for a 2xx from the collector. A report keeps its body (and so its id and seq)
// until it is acknowledged or pushed out by newer ones past `max_pending`.

export class Pending {
  inFlight: bool = false;
  token: u32 = 0;
  sentAtMs: u64 = 0;
  constructor(public seq: u64, public body: ArrayBuffer) {}
}

export class Outbox {
  items: Pending[] = [];

  constructor(public maxPending: i32) {}

  /** Adds a report; returns how many of the oldest were dropped to stay within bounds. */
  push(p: Pending): i32 {
    this.items.push(p);
    let dropped = 0;
    while (this.items.length > this.maxPending) {
      this.items.shift();
      dropped++;
    }
    return dropped;
  }

  /** Index of the in-flight report with this token, or -1 (e.g. it was dropped meanwhile). */
  indexOfToken(token: u32): i32 {
    for (let i = 0; i < this.items.length; i++) {
      const p = unchecked(this.items[i]);
      if (p.inFlight && p.token == token) return i;
    }
    return -1;
  }

  removeAt(i: i32): void {
    this.items.splice(i, 1);
  }

  get length(): i32 {
    return this.items.length;
  }
}
