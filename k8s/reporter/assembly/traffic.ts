// Traffic aggregation for one reporting window and the v1 report body
// (src/reports/report-v1.schema.json).

import { Reporter } from './reporter';
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

/** One (method, code class) cell of a route. */
class Cell {
  n: u64 = 0;
  /** Non-cumulative duration counts, one per bound, then +Inf. */
  buckets: StaticArray<u64> = new StaticArray<u64>(BUCKETS);
  sumNs: u64 = 0;
  bytesIn: u64 = 0;
  bytesOut: u64 = 0;

  add(o: Observation): void {
    this.n++;
    const b = bucketOf(o.durationNs);
    unchecked((this.buckets[b] = this.buckets[b] + 1));
    this.sumNs += o.durationNs;
    this.bytesIn += o.bytesIn;
    this.bytesOut += o.bytesOut;
  }
}

/** A route's counts: one cell per (method, code class), made when first used. */
class RouteCells {
  cells: StaticArray<Cell | null> = new StaticArray<Cell | null>(CELLS);
  constructor(public route: string) {}
}

export function bucketOf(durationNs: u64): i32 {
  for (let i = 0; i < BUCKETS - 1; i++) {
    if (durationNs <= unchecked(BOUNDS_MS[i]) * 1000000) return i;
  }
  return BUCKETS - 1;
}

/** One finished stream, as the aggregation sees it. */
export class Observation {
  method: u8 = 0;
  code: u8 = 0; // 0 = no response headers, else the status class 1..5
  route: string = '/';
  durationNs: u64 = 0;
  bytesIn: u64 = 0;
  bytesOut: u64 = 0;
}

/** One window's traffic by route (at most `maxKeys` routes, then the overflow route). Managed: the
 * Reporter holds it pinned, and its routes and cells are collected when it lets them go. */
export class Aggregate {
  /** Route -> index in `routes`. */
  private byRoute: Map<string, i32> = new Map();
  private routes: RouteCells[] = [];
  private overflow: RouteCells | null = null;
  private cellCount: i32 = 0;

  constructor(public maxKeys: i32) {}

  isEmpty(): bool {
    return this.cellCount == 0;
  }

  private routeOf(route: string): RouteCells {
    if (this.byRoute.has(route)) return unchecked(this.routes[this.byRoute.get(route)]);
    if (this.routes.length < this.maxKeys) {
      const rc = new RouteCells(route);
      this.byRoute.set(route, this.routes.length);
      this.routes.push(rc);
      return rc;
    }
    let ov = this.overflow;
    if (ov === null) {
      ov = new RouteCells(OVERFLOW_ROUTE);
      this.overflow = ov;
    }
    return ov;
  }

  add(o: Observation): void {
    const cells = this.routeOf(o.route).cells;
    const index = <i32>o.method * CODE_CLASSES + <i32>o.code;
    let cell = unchecked(cells[index]);
    if (cell === null) {
      cell = new Cell();
      unchecked((cells[index] = cell));
      this.cellCount++;
    }
    cell.add(o);
  }

  clear(): void {
    this.byRoute.clear();
    this.routes.length = 0;
    this.overflow = null;
    this.cellCount = 0;
  }

  /** The window's counts as report bodies (usually one), each carrying its own seq from `firstSeq`,
   * handed to `reporter.enqueue`; returns how many. */
  toReports(reporter: Reporter, firstSeq: u64): u64 {
    const routes = this.routes;
    const nr = routes.length;
    let made: u64 = 0;
    let open = false;
    let inBody = 0;
    // The distinct routes in order of arrival, then the overflow route.
    for (let r = 0; r <= nr; r++) {
      const rc = r < nr ? unchecked(routes[r]) : this.overflow;
      if (rc === null) continue;
      for (let i = 0; i < CELLS; i++) {
        const cell = unchecked(rc.cells[i]);
        if (cell === null) continue;
        if (!open || inBody == MAX_COUNTS_PER_REPORT) {
          if (open) {
            reporter.enqueue(closeBody());
            made++;
          }
          reporter.writeHead(HEAD_JSON, firstSeq + made);
          open = true;
          inBody = 0;
        }
        if (inBody > 0) wByte(0x2c);
        writeCount(rc.route, i, cell);
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

function writeCount(route: string, index: i32, cell: Cell): void {
  wTemplate(COUNT_JSON);
  wBytes(unchecked(METHODS[index / CODE_CLASSES]));
  wNext();
  wBytes(unchecked(CODES[index % CODE_CLASSES]));
  wNext();
  wJsonString(changetype<usize>(route));
  wNext();
  wU64(cell.n);
  wNext();
  for (let b = 0; b < BUCKETS; b++) {
    if (b > 0) wByte(0x2c);
    wU64(unchecked(cell.buckets[b]));
  }
  wNext();
  wMillisFromNanos(cell.sumNs);
  wNext();
  wU64(cell.bytesIn);
  wNext();
  wU64(cell.bytesOut);
  wNext();
}

/** A v1 report up to its counts; '~' marks the values (see `wTemplate`). */
export const HEAD_JSON = ascii(
  '{"v":1,"reporter":{"id":"~","seq":~},"source":{"workload":~,"namespace":~,"pod":~},"window":{"start_ms":~,"end_ms":~},"buckets_ms":[5,10,25,50,100,250,500,1000,2500,5000,10000],"counts":[',
);

/**
 * Everything in a report before its counts (v1) or its string table (v2), with `seq`: `template` is
 * the version's head (HEAD_JSON here, istio-report's for v2); `source` is workload, namespace, pod.
 */
export function writeHead(
  template: usize,
  reporterId: usize,
  source: usize,
  startMs: u64,
  endMs: u64,
  seq: u64,
): void {
  wTemplate(template);
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
