// Istio mode, per tick: the window's streams aggregated per distinct dimension set, and the
// report v2 body (src/reports/report-v2.schema.json): each distinct string once per report in
// `strings`, each entry's 25 dimensions as indices into it, histograms in Envoy's default buckets.
// Managed objects (Map, arrays); the Reporter pins the window it holds.

import { DIMENSIONS, GRPC_RESPONSE_STATUS, IstioObservation, RESPONSE_CODE } from './istio';
import { Reporter } from './reporter';
import {
  wByte,
  wBytes,
  wJsonString,
  wMillisFromNanos,
  wNext,
  wTake,
  wTemplate,
  wU64,
} from './writer';

/** Envoy's default histogram bounds (source/common/stats/histogram_impl.cc), ms for durations and
 * bytes for sizes, doubled so that the 0.5 bound is an integer; one more bucket for +Inf. */
const BOUNDS_X2: StaticArray<u64> = [
  1, 2, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 60000, 120000, 600000, 1200000,
  3600000, 7200000,
];
export const BUCKETS = 20;
const OVERFLOW = '__overflow__';
/** Below the schema's maxItems (1024): a window with more sets is split over several reports. */
const MAX_ENTRIES_PER_REPORT = 1000;

/** The bucket of `value` (ms or bytes) given doubled: value*2 <= bound*2. */
function bucketOfDoubled(doubled: u64): i32 {
  for (let i = 0; i < BUCKETS - 1; i++) if (doubled <= unchecked(BOUNDS_X2[i])) return i;
  return BUCKETS - 1;
}

/** Nanoseconds -> bucket by ms (ns*2 <= ms*2*1e6). */
function durationBucket(ns: u64): i32 {
  for (let i = 0; i < BUCKETS - 1; i++) {
    if (ns <= unchecked(BOUNDS_X2[i]) * 500000) return i;
  }
  return BUCKETS - 1;
}

/** One distinct dimension set's counts; `dims` are indices into the window's strings. */
class Cell {
  n: u64 = 0;
  duration: StaticArray<u64> = new StaticArray<u64>(BUCKETS);
  durationSumNs: u64 = 0;
  requestBytes: StaticArray<u64> = new StaticArray<u64>(BUCKETS);
  requestBytesSum: u64 = 0;
  responseBytes: StaticArray<u64> = new StaticArray<u64>(BUCKETS);
  responseBytesSum: u64 = 0;

  constructor(public dims: StaticArray<i32>) {}

  add(o: IstioObservation): void {
    this.n++;
    const d = durationBucket(o.durationNs);
    unchecked((this.duration[d] = this.duration[d] + 1));
    this.durationSumNs += o.durationNs;
    const q = bucketOfDoubled(o.requestBytes << 1);
    unchecked((this.requestBytes[q] = this.requestBytes[q] + 1));
    this.requestBytesSum += o.requestBytes;
    const r = bucketOfDoubled(o.responseBytes << 1);
    unchecked((this.responseBytes[r] = this.responseBytes[r] + 1));
    this.responseBytesSum += o.responseBytes;
  }
}

/** One distinct TCP dimension set's counters over the window. */
class TcpCell {
  opened: u64 = 0;
  closed: u64 = 0;
  received: u64 = 0;
  sent: u64 = 0;

  constructor(public dims: StaticArray<i32>) {}
}

/** The dimensions a TCP entry leaves out: response_code and grpc_response_status. */
function httpOnly(i: i32): bool {
  return i == RESPONSE_CODE || i == GRPC_RESPONSE_STATUS;
}

/**
 * The streams of one reporting window, by dimension set; at most `maxKeys` sets, then the
 * overflow set (HTTP and TCP sets each). Dimension values are interned (each distinct string once,
 * as the report sends them); a set's key is its 25 string indices as UTF-16 units.
 */
export class IstioWindow {
  /** String -> index in `strings`, and set key -> index in `cells`: one Map type for both. */
  private stringIndex: Map<string, i32> = new Map();
  private strings: string[] = [];
  private cellIndex: Map<string, i32> = new Map();
  private cells: Cell[] = [];
  private overflow: Cell | null = null;
  /** TCP connections' counters, by the same keys in a map of their own. */
  private tcpIndex: Map<string, i32> = new Map();
  private tcpCells: TcpCell[] = [];
  private tcpOverflow: TcpCell | null = null;
  private dims: StaticArray<i32> = new StaticArray<i32>(DIMENSIONS);

  constructor(public maxKeys: i32) {}

  isEmpty(): bool {
    return (
      this.cells.length == 0 &&
      this.overflow === null &&
      this.tcpCells.length == 0 &&
      this.tcpOverflow === null
    );
  }

  private intern(s: string): i32 {
    if (this.stringIndex.has(s)) return this.stringIndex.get(s);
    const i = this.strings.length;
    this.stringIndex.set(s, i);
    this.strings.push(s);
    return i;
  }

  /** `values` interned into `dims`; returns the set's key. */
  private key(values: StaticArray<string>): string {
    const dims = this.dims;
    const key = changetype<string>(__new(DIMENSIONS << 1, idof<string>()));
    for (let i = 0; i < DIMENSIONS; i++) {
      const at = this.intern(unchecked(values[i]));
      unchecked((dims[i] = at));
      store<u16>(changetype<usize>(key) + ((<usize>i) << 1), <u16>at);
    }
    return key;
  }

  /** Every dimension `__overflow__`. */
  private overflowDims(): StaticArray<i32> {
    const at = this.intern(OVERFLOW);
    const all = new StaticArray<i32>(DIMENSIONS);
    for (let i = 0; i < DIMENSIONS; i++) unchecked((all[i] = at));
    return all;
  }

  add(o: IstioObservation): void {
    const key = this.key(o.dims);
    let cell: Cell;
    if (this.cellIndex.has(key)) {
      cell = unchecked(this.cells[this.cellIndex.get(key)]);
    } else if (this.cells.length < this.maxKeys) {
      cell = new Cell(StaticArray.slice<i32>(this.dims));
      this.cellIndex.set(key, this.cells.length);
      this.cells.push(cell);
    } else {
      let ov = this.overflow;
      if (ov === null) {
        ov = new Cell(this.overflowDims());
        this.overflow = ov;
      }
      cell = ov;
    }
    cell.add(o);
  }

  /** A TCP connection's counts since it was last added. */
  addTcp(values: StaticArray<string>, opened: bool, closed: bool, received: u64, sent: u64): void {
    const key = this.key(values);
    let cell: TcpCell;
    if (this.tcpIndex.has(key)) {
      cell = unchecked(this.tcpCells[this.tcpIndex.get(key)]);
    } else if (this.tcpCells.length < this.maxKeys) {
      cell = new TcpCell(StaticArray.slice<i32>(this.dims));
      this.tcpIndex.set(key, this.tcpCells.length);
      this.tcpCells.push(cell);
    } else {
      let ov = this.tcpOverflow;
      if (ov === null) {
        ov = new TcpCell(this.overflowDims());
        this.tcpOverflow = ov;
      }
      cell = ov;
    }
    if (opened) cell.opened++;
    if (closed) cell.closed++;
    cell.received += received;
    cell.sent += sent;
  }

  clear(): void {
    this.stringIndex.clear();
    this.strings.length = 0;
    this.cellIndex.clear();
    this.cells.length = 0;
    this.overflow = null;
    this.tcpIndex.clear();
    this.tcpCells.length = 0;
    this.tcpOverflow = null;
  }

  /** The report bodies (usually one) of this window, handed to `reporter.enqueue` in order with
   * their seqs from `firstSeq`; returns how many. HTTP entries first, then TCP entries, at most
   * MAX_ENTRIES_PER_REPORT of both together per report. */
  toReports(reporter: Reporter, firstSeq: u64): u64 {
    const cells = this.cells;
    const ov = this.overflow;
    if (ov !== null) cells.push(ov);
    const tcp = this.tcpCells;
    const tcpOv = this.tcpOverflow;
    if (tcpOv !== null) tcp.push(tcpOv);
    const total = cells.length + tcp.length;
    let made: u64 = 0;
    for (let from = 0; from < total; from += MAX_ENTRIES_PER_REPORT) {
      const to = min(from + MAX_ENTRIES_PER_REPORT, total);
      reporter.writeHead(HEAD_JSON, firstSeq + made);
      reporter.enqueue(reportBody(this.strings, cells, tcp, from, to));
      made++;
    }
    if (ov !== null) cells.pop();
    if (tcpOv !== null) tcp.pop();
    return made;
  }
}

const HEAD_JSON = ascii(
  '{"v":2,"reporter":{"id":"~","seq":~},"source":{"workload":~,"namespace":~,"pod":~},"window":{"start_ms":~,"end_ms":~},"buckets":[0.5,1,5,10,25,50,100,250,500,1000,2500,5000,10000,30000,60000,300000,600000,1800000,3600000],"strings":[',
);
const ENTRY_JSON = ascii(
  '{"d":[~],"n":~,"duration_ms":[~],"duration_sum_ms":~,"request_bytes":[~],"request_bytes_sum":~,"response_bytes":[~],"response_bytes_sum":~}',
);

const TCP_ENTRY_JSON = ascii('{"d":[~],"opened":~,"closed":~,"received_bytes":~,"sent_bytes":~}');

function wCounts(counts: StaticArray<u64>): void {
  for (let i = 0; i < BUCKETS; i++) {
    if (i > 0) wByte(0x2c);
    wU64(unchecked(counts[i]));
  }
}

/** The rest of a report after its head: the strings, then the entries `from`..`to` of the HTTP
 * cells followed by the TCP cells. No `tcp` field without TCP entries (mesha before TCP accepts it). */
function reportBody(
  strings: string[],
  cells: Cell[],
  tcp: TcpCell[],
  from: i32,
  to: i32,
): ArrayBuffer {
  for (let i = 0; i < strings.length; i++) {
    if (i > 0) wByte(0x2c);
    wJsonString(changetype<usize>(unchecked(strings[i])));
  }
  wBytes(ascii('],"http":['));
  const httpTo = min(to, cells.length);
  for (let c = from; c < httpTo; c++) {
    const cell = unchecked(cells[c]);
    if (c > from) wByte(0x2c);
    wTemplate(ENTRY_JSON);
    wDims(cell.dims, false);
    wNext();
    wU64(cell.n);
    wNext();
    wCounts(cell.duration);
    wNext();
    wMillisFromNanos(cell.durationSumNs);
    wNext();
    wCounts(cell.requestBytes);
    wNext();
    wU64(cell.requestBytesSum);
    wNext();
    wCounts(cell.responseBytes);
    wNext();
    wU64(cell.responseBytesSum);
    wNext();
  }
  const tcpFrom = max(from, cells.length) - cells.length;
  const tcpTo = to - cells.length;
  if (tcpTo > tcpFrom) {
    wBytes(ascii('],"tcp":['));
    for (let c = tcpFrom; c < tcpTo; c++) {
      const cell = unchecked(tcp[c]);
      if (c > tcpFrom) wByte(0x2c);
      wTemplate(TCP_ENTRY_JSON);
      wDims(cell.dims, true);
      wNext();
      wU64(cell.opened);
      wNext();
      wU64(cell.closed);
      wNext();
      wU64(cell.received);
      wNext();
      wU64(cell.sent);
      wNext();
    }
  }
  wBytes(ascii(']}'));
  return wTake();
}

/** A set's dimension indices, comma-separated; for TCP without the HTTP-only two. */
function wDims(dims: StaticArray<i32>, tcp: bool): void {
  let first = true;
  for (let i = 0; i < DIMENSIONS; i++) {
    if (tcp && httpOnly(i)) continue;
    if (!first) wByte(0x2c);
    first = false;
    wU64(<u64>unchecked(dims[i]));
  }
}
