// Traffic aggregation for one reporting window and the v1 report body
// (src/reports/report-v1.schema.json).

import { Reporter, hold } from './reporter';
import {
  wAscii,
  wByte,
  wBytes,
  wJsonString,
  wMillisFromNanos,
  wNext,
  wTake,
  wTemplate,
  wU64,
} from './writer';

/** Shared duration bucket bounds in ms ($defs.bucketBoundsMs); one more bucket for +Inf. */
const BOUNDS_MS: StaticArray<u64> = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];
const BUCKETS = 12;

/** `ascii()` byte strings (see writer.ts `wBytes`). */
export const METHODS: StaticArray<usize> = [
  ascii('GET'),
  ascii('HEAD'),
  ascii('POST'),
  ascii('PUT'),
  ascii('DELETE'),
  ascii('CONNECT'),
  ascii('OPTIONS'),
  ascii('TRACE'),
  ascii('PATCH'),
  ascii('OTHER'),
];
export const METHOD_OTHER: u8 = 9;
const CODES: StaticArray<usize> = [
  ascii('none'),
  ascii('1xx'),
  ascii('2xx'),
  ascii('3xx'),
  ascii('4xx'),
  ascii('5xx'),
];
const CODE_CLASSES = 6;
const CELLS = 60; // METHODS.length * CODE_CLASSES

export const OVERFLOW_ROUTE = '__overflow__';
export const MAX_ROUTE_CHARS = 128;
const MAX_NAME_CHARS = 253;
/** Below the schema's maxItems (1024): a window with more cells is split over several reports. */
const MAX_COUNTS_PER_REPORT = 1000;

/** One (method, code class) cell of a route: u64 slots, n, the duration buckets, then the sums. */
const CELL_SLOTS = 16;
const AT_N: usize = 0;
const AT_BUCKETS: usize = 8;
const AT_SUM_NS: usize = 8 * (1 + BUCKETS);
const AT_BYTES_IN: usize = AT_SUM_NS + 8;
const AT_BYTES_OUT: usize = AT_BYTES_IN + 8;

function bump(slot: usize, by: u64): void {
  store<u64>(slot, load<u64>(slot) + by);
}

const ROUTE_BUCKETS: u32 = 256;

/** A route's counts: `cells` holds one address per (method, code class), 0 or a zeroed block of
 * CELL_SLOTS u64s. Unmanaged like the Aggregate: its blocks are freed and its own copy of the
 * route string unpinned by `free()`. */
@unmanaged
class RouteCells {
  cells: usize;
  /** The next route in the same bucket. */
  next: RouteCells | null = null;
  route: string;

  constructor(route: string) {
    // A copy: the string the stream holds is pinned by the stream, and pins do not nest.
    const size = <usize>load<u32>(changetype<usize>(route) - 4);
    const copy = changetype<string>(__new(size, idof<string>()));
    memory.copy(changetype<usize>(copy), changetype<usize>(route), size);
    hold(0, changetype<usize>(copy));
    this.route = copy;
    const cells = heap.alloc(CELLS << alignof<usize>());
    memory.fill(cells, 0, CELLS << alignof<usize>());
    this.cells = cells;
  }

  free(): void {
    for (let i = 0; i < CELLS; i++) {
      const cell = load<usize>(this.cells + ((<usize>i) << alignof<usize>()));
      if (cell != 0) heap.free(cell);
    }
    heap.free(this.cells);
    hold(changetype<usize>(this.route), 0);
    heap.free(changetype<usize>(this));
  }
}

/** FNV-1a over the UTF-16 units: the route table is keyed by this, collisions chain through `next`. */
function routeHash(p: usize): u32 {
  let h: u32 = 2166136261;
  // The runtime header's rtSize, just before the payload, is the string's byte length.
  const end = p + <usize>load<u32>(p - 4);
  for (let q = p; q < end; q += 2) h = (h ^ (<u32>load<u16>(q))) * 16777619;
  return h;
}

export function bucketOf(durationNs: u64): i32 {
  for (let i = 0; i < BUCKETS - 1; i++) {
    if (durationNs <= unchecked(BOUNDS_MS[i]) * 1000000) return i;
  }
  return BUCKETS - 1;
}

/** One finished stream, as the aggregation sees it. Unmanaged (see Stream). */
@unmanaged
export class Observation {
  method: u8 = 0;
  code: u8 = 0; // 0 = no response headers, else the status class 1..5
  route: string = '/';
  durationNs: u64 = 0;
  bytesIn: u64 = 0;
  bytesOut: u64 = 0;
}

/** Unmanaged like the Reporter that owns it (no shadow-stack traffic for `this`): the managed
 * objects it holds are pinned (`hold`) until `release()`. */
@unmanaged
export class Aggregate {
  /** Route chains (through `next`) in buckets by routeHash. */
  private byRoute: StaticArray<RouteCells | null>;
  private order: RouteCells[];
  private overflow: RouteCells | null = null;
  private cellCount: i32 = 0;

  constructor(public maxKeys: i32) {
    const byRoute = new StaticArray<RouteCells | null>(ROUTE_BUCKETS);
    hold(0, changetype<usize>(byRoute));
    this.byRoute = byRoute;
    const order: RouteCells[] = [];
    hold(0, changetype<usize>(order));
    this.order = order;
  }

  release(): void {
    this.clear();
    hold(changetype<usize>(this.byRoute), 0);
    hold(changetype<usize>(this.order), 0);
    heap.free(changetype<usize>(this));
  }

  isEmpty(): bool {
    return this.cellCount == 0;
  }

  add(o: Observation): void {
    const route = o.route;
    const h = routeHash(changetype<usize>(route));
    const b = h & (ROUTE_BUCKETS - 1);
    const first = unchecked(this.byRoute[b]);
    let found = first;
    while (found !== null && found.route != route) found = found.next;
    let rc: RouteCells;
    if (found !== null) {
      rc = found;
    } else if (this.order.length < this.maxKeys) {
      rc = new RouteCells(route);
      rc.next = first;
      unchecked((this.byRoute[b] = rc));
      this.order.push(rc);
    } else {
      let ov = this.overflow;
      if (ov === null) {
        ov = new RouteCells(OVERFLOW_ROUTE);
        this.overflow = ov;
      }
      rc = ov;
    }
    const index = <i32>o.method * CODE_CLASSES + <i32>o.code;
    const at = rc.cells + ((<usize>index) << alignof<usize>());
    let c = load<usize>(at);
    if (c == 0) {
      c = heap.alloc(CELL_SLOTS << 3);
      memory.fill(c, 0, CELL_SLOTS << 3);
      store<usize>(at, c);
      this.cellCount++;
    }
    bump(c + AT_N, 1);
    bump(c + AT_BUCKETS + ((<usize>bucketOf(o.durationNs)) << 3), 1);
    bump(c + AT_SUM_NS, o.durationNs);
    bump(c + AT_BYTES_IN, o.bytesIn);
    bump(c + AT_BYTES_OUT, o.bytesOut);
  }

  clear(): void {
    memory.fill(changetype<usize>(this.byRoute), 0, ROUTE_BUCKETS << alignof<usize>());
    const order = this.order;
    for (let i = 0; i < order.length; i++) unchecked(order[i]).free();
    order.length = 0;
    const ov = this.overflow;
    if (ov !== null) ov.free();
    this.overflow = null;
    this.cellCount = 0;
  }

  /** The window's counts as report bodies (usually one), each carrying its own seq from `firstSeq`,
   * handed to `reporter.enqueue`; returns how many. */
  toReports(reporter: Reporter, firstSeq: u64): u64 {
    const routes = this.order;
    const nr = routes.length;
    let made: u64 = 0;
    let open = false;
    let inBody = 0;
    // The distinct routes in order of arrival, then the overflow route.
    for (let r = 0; r <= nr; r++) {
      const rc = r < nr ? unchecked(routes[r]) : this.overflow;
      if (rc === null) continue;
      for (let i = 0; i < CELLS; i++) {
        const cell = load<usize>(rc.cells + ((<usize>i) << alignof<usize>()));
        if (cell == 0) continue;
        if (!open || inBody == MAX_COUNTS_PER_REPORT) {
          if (open) {
            reporter.enqueue(closeBody());
            made++;
          }
          reporter.writeHead(firstSeq + made);
          open = true;
          inBody = 0;
        }
        if (inBody > 0) wByte(0x2c);
        writeCount(changetype<usize>(rc.route), i, cell);
        inBody++;
      }
    }
    if (open) {
      reporter.enqueue(closeBody());
      made++;
    }
    return made;
  }
}

function closeBody(): ArrayBuffer {
  wBytes(ascii(']}'));
  return wTake();
}

/** One entry of `counts`; '~' marks the values (see `wTemplate`). */
// One literal each (the compiler does not fold concatenated constants).
const COUNT_JSON = ascii(
  '{"method":"~","code":"~","route":~,"n":~,"duration_buckets":[~],"duration_sum_ms":~,"bytes_in":~,"bytes_out":~}',
);

function writeCount(route: usize, index: i32, cell: usize): void {
  wTemplate(COUNT_JSON);
  wBytes(unchecked(METHODS[index / CODE_CLASSES]));
  wNext();
  wBytes(unchecked(CODES[index % CODE_CLASSES]));
  wNext();
  wJsonString(route);
  wNext();
  wU64(load<u64>(cell + AT_N));
  wNext();
  const buckets = cell + AT_BUCKETS;
  for (let b = 0; b < BUCKETS; b++) {
    if (b > 0) wByte(0x2c);
    wU64(load<u64>(buckets + ((<usize>b) << 3)));
  }
  wNext();
  wMillisFromNanos(load<u64>(cell + AT_SUM_NS));
  wNext();
  wU64(load<u64>(cell + AT_BYTES_IN));
  wNext();
  wU64(load<u64>(cell + AT_BYTES_OUT));
  wNext();
}

/** A report up to its counts; '~' marks the values (see `wTemplate`). */
const HEAD_JSON = ascii(
  '{"v":1,"reporter":{"id":"~","seq":~},"source":{"workload":~,"namespace":~,"pod":~},"window":{"start_ms":~,"end_ms":~},"buckets_ms":[5,10,25,50,100,250,500,1000,2500,5000,10000],"counts":[',
);

/** Everything in a report before its counts, with `seq`; `source` is workload, namespace, pod. */
export function writeHead(
  reporterId: usize,
  source: usize,
  startMs: u64,
  endMs: u64,
  seq: u64,
): void {
  wTemplate(HEAD_JSON);
  wAscii(reporterId);
  wNext();
  wU64(seq);
  wNext();
  // `source` is a string[]: its backing store's address is its first field.
  const names = load<usize>(source);
  for (let i: usize = 0; i < 3; i++) {
    wJsonString(load<usize>(names + (i << alignof<usize>())));
    wNext();
  }
  wU64(startMs);
  wNext();
  wU64(endMs);
  wNext();
}

/** A source name as the schema wants it: 1..253 characters, 'unknown' when absent or empty. */
export function sourceName(value: string | null): string {
  if (value === null || value.length == 0) return 'unknown';
  return clip(value, MAX_NAME_CHARS);
}

/** At most `max` UTF-16 units, never ending inside a surrogate pair. */
export function clip(s: string, max: i32): string {
  if (s.length <= max) return s;
  let end = max;
  const last = s.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return s.substring(0, end);
}
