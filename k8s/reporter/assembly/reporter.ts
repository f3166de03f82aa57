// One root context: its configuration, its tick (heartbeat or traffic report), the reports
// waiting for a 2xx, and the answers to its http calls.

import { Config, Mode, readConfig } from './config';
import {
  BufferType,
  callToken,
  LogLevel,
  MapType,
  MetricType,
  Status,
  defineMetric,
  getBufferString,
  getHeader,
  getPropertyString,
  httpCall,
  incrementMetric,
  nowNanos,
  random64,
  recordMetric,
  releaseValue,
  setTickPeriod,
  valuePtr,
  valueSize,
} from './host';
import { Aggregate, Observation, sourceName, writeHead } from './traffic';
import { IstioObservation, observeIstio, readLocalWorkload } from './istio';
import { IstioWindow } from './istio-report';
import {
  wAscii,
  wByte,
  wBytes,
  wDecimal,
  wLength,
  wLog,
  wLogAfter,
  wPatchU32,
  wTake,
  wTemplate,
  wU64,
  wUtf8,
  wZeros,
} from './writer';

const HEARTBEAT_BODY = ascii("i'm wasm from wasm filter !!!");
const STATUS_KEY = ascii(':status');

function hex16(x: u64): string {
  let s = '';
  for (let shift: u64 = 64; shift > 0;) {
    shift -= 4;
    const d = <i32>((x >> shift) & 15);
    s += String.fromCharCode(d < 10 ? 0x30 + d : 0x57 + d);
  }
  return s;
}

/** Appends the proxy-wasm Go SDK's wording for a failed call, as the seed logged it. */
function wStatusError(status: u32): void {
  if (status == 1 || status == 2 || status == 10) {
    wBytes(ascii('error status returned by host: '));
    wBytes(
      status == 1
        ? ascii('not found')
        : status == 2
          ? ascii('bad argument')
          : ascii('internal failure'),
    );
  } else {
    wBytes(ascii('unknown status code: '));
    wU64(status);
  }
}

/** Logs `template` with its one '~' replaced by the host status' description. */
function logStatus(level: LogLevel, template: usize, status: u32): void {
  wTemplate(template);
  wStatusError(status);
  wLog(level);
}

/** Logs a fixed ASCII line. */
function logLine(level: LogLevel, line: usize): void {
  wTemplate(line);
  wLog(level);
}

/** The :status of the http call being answered; 0 when there is none (timeout, reset). */
function callStatus(headers: u32): i32 {
  if (headers == 0) return 0;
  if (!getHeader(MapType.HttpCallResponseHeaders, STATUS_KEY)) return 0;
  let code = 0;
  for (let i: usize = 0; i < valueSize; i++) {
    const d = <i32>load<u8>(valuePtr + i) - 0x30;
    code = d >= 0 && d <= 9 && i < 3 ? code * 10 + d : -1000;
  }
  releaseValue();
  return code;
}

// A proxy-wasm header map, built in the writer's buffer: the pair count, (name length, value
// length) per pair, then each name and value followed by a NUL. Names and values are written
// in order, each between `partStart` and `partEnd`, which fills in its length.
let lengthAt: i32 = 0;
let partFrom: i32 = 0;

function headerMapStart(pairs: i32): void {
  wZeros(4 + 8 * pairs);
  wPatchU32(0, pairs);
  lengthAt = 4;
}

function partStart(): void {
  partFrom = wLength();
}

function partEnd(): void {
  wPatchU32(lengthAt, wLength() - partFrom);
  lengthAt += 4;
  wByte(0);
}

/** A name or value given as a string (UTF-8 encoded). */
function headerText(s: usize): void {
  partStart();
  wUtf8(s);
  partEnd();
}

/** A name or value given as an `ascii()` byte string. */
function headerBytes(b: usize): void {
  partStart();
  wBytes(b);
  partEnd();
}

/** A report that has not had its 2xx yet. It keeps its body, so a re-send has the same id and seq. */
class Pending {
  inFlight: bool = false;
  token: u32 = 0;
  sentAtMs: u64 = 0;
  constructor(public body: ArrayBuffer) {}
}

const SENT = 0;
const FAILED = 1;
const DROPPED = 2;
const OBSERVED = 3;
const PENDING = 4;
const METRIC_NAMES: StaticArray<usize> = [
  ascii('mesha_reporter_reports_sent'),
  ascii('mesha_reporter_reports_failed'),
  ascii('mesha_reporter_reports_dropped'),
  ascii('mesha_reporter_requests_observed'),
  ascii('mesha_reporter_reports_pending'),
];

/** Adds `by` to metric `i` of the id block `metrics` (a Reporter's `metrics`, passed raw). */
function countMetric(metrics: usize, i: i32, by: u64): void {
  incrementMetric(load<i64>(metrics + ((<usize>i) << 3)), by);
}

/** Pins `next` and unpins `old`: the managed objects an (unmanaged) Reporter holds stay alive
 * this way. Static objects (below `__heap_base`) are never collected and never pinned. */
export function hold(old: usize, next: usize): void {
  if (old == next) return;
  if (old >= __heap_base) __unpin(old);
  if (next >= __heap_base) __pin(next);
}

/** Unmanaged, so that `this` in its methods costs no shadow-stack traffic (see the README's size
 * notes); its managed fields are pinned through `hold`. Root contexts are few and long-lived. */
@unmanaged
export class Reporter {
  config: Config;
  configured: bool = false;
  reporterId: string = '';
  private nextSeq: u64 = 1;
  private cluster: ArrayBuffer | null = null;
  private headers: ArrayBuffer | null = null;
  private source: string[];
  aggregate: Aggregate | null = null;
  /** Istio mode: this window's streams, this proxy's workload, and the record reused per stream
   * (connection.ts adds TCP connections to the same window). */
  istio: IstioWindow | null = null;
  local: StaticArray<string> | null = null;
  istioObservation: IstioObservation | null = null;
  private pending: Pending[];
  private windowStartMs: u64 = 0;
  private windowEndMs: u64 = 0;
  /** Reports dropped past max_pending during this tick. */
  private dropped: u64 = 0;
  /** Requests finished since the last tick; added to the metric once per tick, not per request. */
  observedSinceTick: u64 = 0;
  private delivering: bool = true;
  private metrics: StaticArray<i64>;
  /** Streams pointing at this reporter: a deleted root context is freed when the last one ends. */
  streams: i32 = 0;
  deleted: bool = false;
  /** The next root context of this VM (a list: there is normally one). */
  nextRoot: Reporter | null = null;

  constructor(public contextId: u32) {
    this.config = new Config();
    const source: string[] = [];
    hold(0, changetype<usize>(source));
    this.source = source;
    const pending: Pending[] = [];
    hold(0, changetype<usize>(pending));
    this.pending = pending;
    const metrics = new StaticArray<i64>(5);
    hold(0, changetype<usize>(metrics));
    this.metrics = metrics;
  }

  /** A new report body: pending from now on; past max_pending the oldest is dropped. */
  enqueue(body: ArrayBuffer): void {
    this.pending.push(new Pending(body));
    if (this.pending.length > this.config.maxPending) {
      this.pending.shift();
      this.dropped++;
    }
  }

  /** Writes the head (`template`: the report version's) of a report of the window being closed. */
  writeHead(template: usize, seq: u64): void {
    writeHead(
      template,
      changetype<usize>(this.reporterId),
      changetype<usize>(this.source),
      this.windowStartMs,
      this.windowEndMs,
      seq,
    );
  }

  /** Unpins what it holds and frees it (a deleted root context, once no stream points at it). */
  release(): void {
    this.config.release();
    hold(changetype<usize>(this.reporterId), 0);
    hold(changetype<usize>(this.cluster), 0);
    hold(changetype<usize>(this.headers), 0);
    hold(changetype<usize>(this.source), 0);
    hold(changetype<usize>(this.aggregate), 0);
    hold(changetype<usize>(this.istio), 0);
    hold(changetype<usize>(this.local), 0);
    hold(changetype<usize>(this.istioObservation), 0);
    hold(changetype<usize>(this.pending), 0);
    hold(changetype<usize>(this.metrics), 0);
    heap.free(changetype<usize>(this));
  }

  /** proxy_on_configure: false refuses the configuration (Envoy then rejects it). */
  configure(size: u32): bool {
    const text = size > 0 ? getBufferString(BufferType.PluginConfiguration, size) : '';
    const read = readConfig(text === null ? '' : text);
    if (read === null) {
      wLogAfter(LogLevel.Critical, ascii('mesha reporter: invalid configuration: '));
      return false;
    }
    const config = read;
    this.config.release();
    this.config = config;
    if (!this.configured) {
      const id = hex16(random64());
      hold(changetype<usize>(this.reporterId), changetype<usize>(id));
      this.reporterId = id;
      for (let i = 0; i < 5; i++) {
        unchecked(
          (this.metrics[i] = defineMetric(
            i == PENDING ? MetricType.Gauge : MetricType.Counter,
            unchecked(METRIC_NAMES[i]),
          )),
        );
      }
    }
    const cluster = String.UTF8.encode(config.cluster);
    hold(changetype<usize>(this.cluster), changetype<usize>(cluster));
    this.cluster = cluster;
    const headers = this.encodeHeaders(config);
    hold(changetype<usize>(this.headers), changetype<usize>(headers));
    this.headers = headers;
    const aggregate = new Aggregate(config.maxKeys);
    hold(changetype<usize>(this.aggregate), changetype<usize>(aggregate));
    this.aggregate = aggregate;
    if (config.mode == Mode.Istio) {
      const window = new IstioWindow(config.maxKeys);
      hold(changetype<usize>(this.istio), changetype<usize>(window));
      this.istio = window;
      const local = readLocalWorkload();
      hold(changetype<usize>(this.local), changetype<usize>(local));
      this.local = local;
      if (this.istioObservation === null) {
        const o = new IstioObservation();
        hold(0, changetype<usize>(o));
        this.istioObservation = o;
      }
    }
    const source = [
      sourceName(getPropertyString(ascii('node.metadata.WORKLOAD_NAME'))),
      sourceName(getPropertyString(ascii('node.metadata.NAMESPACE'))),
      sourceName(getPropertyString(ascii('node.metadata.NAME'))),
    ];
    hold(changetype<usize>(this.source), changetype<usize>(source));
    this.source = source;
    this.windowStartMs = nowNanos() / 1000000;
    this.configured = true;
    const status = setTickPeriod(config.tickMs);
    if (status != Status.Ok) {
      logStatus(LogLevel.Critical, ascii('failed to set tick period: ~'), status);
      return false;
    }
    wTemplate(ascii('set tick period milliseconds: '));
    wU64(config.tickMs);
    wLog(LogLevel.Info);
    return true;
  }

  private encodeHeaders(config: Config): ArrayBuffer {
    // Heartbeat: the seed's headers in the seed's order. Traffic: a JSON report tagged with our id.
    const extras = config.headers;
    const heartbeat = config.mode == Mode.Heartbeat;
    headerMapStart((heartbeat ? 5 : 6) + (extras.length >> 1));
    headerBytes(ascii(':method'));
    headerBytes(ascii('POST'));
    if (heartbeat) {
      headerBytes(ascii(':authority'));
      headerText(changetype<usize>(config.authority));
      headerBytes(ascii('melonMsg'));
      headerText(changetype<usize>(config.message));
      headerBytes(ascii(':path'));
      headerText(changetype<usize>(config.path));
      headerBytes(ascii('accept'));
      headerBytes(ascii('*/*'));
    } else {
      headerBytes(ascii(':path'));
      headerText(changetype<usize>(config.path));
      headerBytes(ascii(':authority'));
      // Envoy hashes an http call on :authority (not on the route's hash policy), so a
      // per-reporter authority keeps all of its reports on one replica of a ring-hash cluster.
      partStart();
      if (config.hashAuthority) {
        wAscii(changetype<usize>(this.reporterId));
        wByte(0x2e);
      }
      wUtf8(changetype<usize>(config.authority));
      partEnd();
      headerBytes(ascii('content-type'));
      headerBytes(ascii('application/json'));
      headerBytes(ascii('melonMsg'));
      headerText(changetype<usize>(config.message));
      headerBytes(ascii('x-mesha-reporter'));
      headerText(changetype<usize>(this.reporterId));
    }
    for (let i = 0; i < extras.length; i++) headerText(changetype<usize>(unchecked(extras[i])));
    return wTake();
  }

  /** Istio mode, proxy_on_log: the stream's dimensions into this window. */
  recordIstio(): void {
    const window = this.istio;
    const local = this.local;
    const o = this.istioObservation;
    if (window === null || local === null || o === null) return;
    observeIstio(local, o);
    window.add(o);
    this.observedSinceTick++;
  }

  record(o: Observation): void {
    const agg = this.aggregate;
    if (agg === null) return;
    agg.add(o);
    this.observedSinceTick++;
  }

  tick(): void {
    if (!this.configured) return;
    if (this.config.mode == Mode.Heartbeat) {
      logLine(LogLevel.Info, ascii('OnTick method is called before dispatchHttpCall '));
      const status = this.dispatch(HEARTBEAT_BODY + 2, load<u16>(HEARTBEAT_BODY), null);
      if (status != Status.Ok)
        logStatus(LogLevel.Critical, ascii('dispatch httpcall failed: ~'), status);
      logLine(LogLevel.Info, ascii('OnTick method is called after dispatchHttpCall '));
      return;
    }
    countMetric(changetype<usize>(this.metrics), OBSERVED, this.observedSinceTick);
    this.observedSinceTick = 0;
    const nowMs = nowNanos() / 1000000;
    const agg = this.aggregate;
    const istio = this.istio;
    const istioMode = this.config.mode == Mode.Istio;
    const hasData = istioMode ? istio !== null && !istio.isEmpty() : agg !== null && !agg.isEmpty();
    if (hasData) {
      this.windowEndMs = nowMs;
      this.dropped = 0;
      if (istioMode && istio !== null) {
        this.nextSeq += istio.toReports(this, this.nextSeq);
        istio.clear();
      } else if (agg !== null) {
        this.nextSeq += agg.toReports(this, this.nextSeq);
        agg.clear();
      }
      this.windowStartMs = nowMs;
      const dropped = this.dropped;
      if (dropped > 0) {
        countMetric(changetype<usize>(this.metrics), DROPPED, dropped);
        wTemplate(ascii('mesha reporter: dropped ~ report(s) past max_pending'));
        wU64(dropped);
        wLog(LogLevel.Warn);
      }
    }
    // (Re-)send what is not awaiting an answer. An answer always comes (reply, timeout or
    // reset); the age check only guards against a host that loses one.
    const staleMs = <u64>this.config.timeoutMs * 2 + <u64>this.config.tickMs;
    for (let i = 0; i < this.pending.length; i++) {
      const p = unchecked(this.pending[i]);
      if (!p.inFlight || nowMs - p.sentAtMs >= staleMs) {
        p.sentAtMs = nowMs;
        const status = this.dispatch(changetype<usize>(p.body), p.body.byteLength, p);
        if (status != Status.Ok) this.failed(status, 0);
      }
    }
    recordMetric(load<i64>(changetype<usize>(this.metrics), PENDING << 3), this.pending.length);
  }

  /** One proxy_http_call; a refused dispatch counts as failed. */
  private dispatch(body: usize, bodySize: usize, p: Pending | null): u32 {
    const status = httpCall(
      changetype<usize>(this.cluster),
      changetype<usize>(this.headers),
      body,
      bodySize,
      this.config.timeoutMs,
    );
    if (status != Status.Ok) countMetric(changetype<usize>(this.metrics), FAILED, 1);
    if (p !== null) {
      p.inFlight = status == Status.Ok;
      p.token = callToken;
    }
    return status;
  }

  /** A failed attempt: a refused dispatch (`status`, not OK), else the collector's answer `code`
   * (0: none). */
  private failed(status: u32, code: i32): void {
    // Logged once per outage, not once per attempt.
    if (this.delivering) {
      wTemplate(ascii('mesha reporter: reports not delivered (~), will retry'));
      if (status != Status.Ok) {
        wBytes(ascii('dispatch: '));
        wStatusError(status);
      } else if (code == 0) {
        wBytes(ascii('no answer'));
      } else {
        wBytes(ascii('collector answered '));
        wDecimal(code);
      }
      wLog(LogLevel.Warn);
    }
    this.delivering = false;
  }

  onHttpCallResponse(token: u32, headers: u32): void {
    const code = callStatus(headers);
    const ok = code >= 200 && code < 300;
    if (this.config.mode == Mode.Heartbeat) {
      logLine(LogLevel.Info, ascii('wasm callback...'));
      countMetric(changetype<usize>(this.metrics), ok ? SENT : FAILED, 1);
      return;
    }
    const pending = this.pending;
    const n = pending.length;
    let i = 0;
    while (i < n && !(unchecked(pending[i]).inFlight && unchecked(pending[i]).token == token)) i++;
    if (i == n) return; // dropped meanwhile
    const answered = unchecked(pending[i]);
    if (ok) {
      // Remove it, keeping the others in order: move it to the front, then shift it out.
      for (let j = i; j > 0; j--) unchecked((pending[j] = pending[j - 1]));
      unchecked((pending[0] = answered));
      pending.shift();
      countMetric(changetype<usize>(this.metrics), SENT, 1);
      if (!this.delivering)
        logLine(LogLevel.Info, ascii('mesha reporter: reports delivered again'));
      this.delivering = true;
    } else {
      answered.inFlight = false;
      countMetric(changetype<usize>(this.metrics), FAILED, 1);
      this.failed(Status.Ok, code);
    }
    recordMetric(load<i64>(changetype<usize>(this.metrics), PENDING << 3), this.pending.length);
  }
}
