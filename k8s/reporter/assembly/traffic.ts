// Traffic aggregation for one reporting window and the v1 report body
// (src/reports/report-v1.schema.json).

import { Writer } from './writer';

/** Shared duration bucket bounds in ms ($defs.bucketBoundsMs); one more bucket for +Inf. */
const BOUNDS_MS: StaticArray<u64> = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];
const BUCKETS = 12;
const BOUNDS_JSON = '[5,10,25,50,100,250,500,1000,2500,5000,10000]';

export const METHODS: StaticArray<string> = [
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'DELETE',
  'CONNECT',
  'OPTIONS',
  'TRACE',
  'PATCH',
  'OTHER',
];
export const METHOD_OTHER: u8 = 9;
const CODES: StaticArray<string> = ['none', '1xx', '2xx', '3xx', '4xx', '5xx'];
const CODE_CLASSES = 6;
const CELLS = 60; // METHODS.length * CODE_CLASSES

export const OVERFLOW_ROUTE = '__overflow__';
export const MAX_ROUTE_CHARS = 128;
const MAX_NAME_CHARS = 253;
/** Below the schema's maxItems (1024): a window with more cells is split over several reports. */
const MAX_COUNTS_PER_REPORT = 1000;

class Cell {
  n: u64 = 0;
  buckets: StaticArray<u64> = new StaticArray<u64>(BUCKETS);
  sumNs: u64 = 0;
  bytesIn: u64 = 0;
  bytesOut: u64 = 0;
}

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

export class Aggregate {
  private byRoute: Map<string, RouteCells> = new Map();
  private order: RouteCells[] = [];
  private overflow: RouteCells | null = null;
  private cellCount: i32 = 0;
  /** Reused for every report body: its buffer grows to the largest body once instead of per report. */
  private writer: Writer = new Writer(1024);

  constructor(public maxKeys: i32) {}

  isEmpty(): bool {
    return this.cellCount == 0;
  }

  add(o: Observation): void {
    let rc: RouteCells;
    if (this.byRoute.has(o.route)) {
      rc = this.byRoute.get(o.route);
    } else if (this.order.length < this.maxKeys) {
      rc = new RouteCells(o.route);
      this.byRoute.set(o.route, rc);
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
    let cell = unchecked(rc.cells[index]);
    if (cell === null) {
      cell = new Cell();
      unchecked((rc.cells[index] = cell));
      this.cellCount++;
    }
    cell.n++;
    const b = bucketOf(o.durationNs);
    unchecked((cell.buckets[b] = cell.buckets[b] + 1));
    cell.sumNs += o.durationNs;
    cell.bytesIn += o.bytesIn;
    cell.bytesOut += o.bytesOut;
  }

  clear(): void {
    this.byRoute.clear();
    this.order = [];
    this.overflow = null;
    this.cellCount = 0;
  }

  /** The window's counts as report bodies (usually one), each carrying its own seq from `firstSeq`. */
  toReports(head: ReportHead, firstSeq: u64): ArrayBuffer[] {
    const routes = this.order.slice(0);
    const ov = this.overflow;
    if (ov !== null) routes.push(ov);
    const bodies = new Array<ArrayBuffer>();
    const w = this.writer;
    let open = false;
    let inBody = 0;
    for (let r = 0; r < routes.length; r++) {
      const rc = routes[r];
      for (let i = 0; i < CELLS; i++) {
        const cell = unchecked(rc.cells[i]);
        if (cell === null) continue;
        if (!open || inBody == MAX_COUNTS_PER_REPORT) {
          if (open) bodies.push(w.ascii(']}').take());
          head.open(w, firstSeq + <u64>bodies.length);
          open = true;
          inBody = 0;
        }
        if (inBody > 0) w.byte(0x2c);
        writeCount(w, rc.route, i, cell);
        inBody++;
      }
    }
    if (open) bodies.push(w.ascii(']}').take());
    return bodies;
  }
}

function writeCount(w: Writer, route: string, index: i32, cell: Cell): void {
  w.ascii('{"method":"').ascii(METHODS[index / CODE_CLASSES]);
  w.ascii('","code":"').ascii(CODES[index % CODE_CLASSES]);
  w.ascii('","route":').jsonString(route);
  w.ascii(',"n":').u64(cell.n);
  w.ascii(',"duration_buckets":[');
  for (let b = 0; b < BUCKETS; b++) {
    if (b > 0) w.byte(0x2c);
    w.u64(unchecked(cell.buckets[b]));
  }
  w.ascii('],"duration_sum_ms":').millisFromNanos(cell.sumNs);
  w.ascii(',"bytes_in":').u64(cell.bytesIn);
  w.ascii(',"bytes_out":').u64(cell.bytesOut).byte(0x7d);
}

/** Everything in a report before its counts. */
export class ReportHead {
  constructor(
    public reporterId: string,
    /** workload, namespace, pod */
    public source: string[],
    public startMs: u64,
    public endMs: u64,
  ) {}

  open(w: Writer, seq: u64): void {
    w.ascii('{"v":1,"reporter":{"id":"').ascii(this.reporterId).ascii('","seq":').u64(seq);
    w.ascii('},"source":{"workload":').jsonString(this.source[0]);
    w.ascii(',"namespace":').jsonString(this.source[1]);
    w.ascii(',"pod":').jsonString(this.source[2]);
    w.ascii('},"window":{"start_ms":').u64(this.startMs).ascii(',"end_ms":').u64(this.endMs);
    w.ascii('},"buckets_ms":').ascii(BOUNDS_JSON).ascii(',"counts":[');
  }
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
