// One root context: its configuration, its tick (heartbeat or traffic report) and the
// answers to its http calls.

import { Config, ConfigResult, Mode, parseConfig } from './config';
import { Outbox, Pending } from './delivery';
import {
  BufferType, CallResult, LogLevel, MapType, MetricType, Status,
  defineMetric, encodeHeaderMap, getBufferString, getHeader, getPropertyString, httpCall,
  incrementMetric, log, nowNanos, random64, recordMetric, setTickPeriod,
} from './host';
import { Aggregate, Observation, ReportHead, sourceName } from './traffic';

const HEARTBEAT_BODY = "i'm wasm from wasm filter !!!";
const STATUS_KEY = String.UTF8.encode(':status');

function hex16(x: u64): string {
  let s = '';
  for (let shift = 60; shift >= 0; shift -= 4) {
    const d = <i32>((x >> <u64>shift) & 15);
    s += String.fromCharCode(d < 10 ? 0x30 + d : 0x57 + d);
  }
  return s;
}

/** The Go SDK's wording for a failed DispatchHttpCall, as the seed logged it. */
function statusError(status: u32): string {
  const prefix = 'error status returned by host: ';
  if (status == 1) return prefix + 'not found';
  if (status == 2) return prefix + 'bad argument';
  if (status == 7) return prefix + 'empty';
  if (status == 8) return prefix + 'cas mismatch';
  if (status == 10) return prefix + 'internal failure';
  if (status == 12) return prefix + 'unimplemented';
  return 'unknown status code: ' + status.toString();
}

/** Reads the :status of the http call being answered; 0 when absent or not a number. */
function callStatus(): i32 {
  const v = getHeader(MapType.HttpCallResponseHeaders, STATUS_KEY);
  if (v === null) return 0;
  let code = 0;
  for (let i: usize = 0; i < v.size && i < 3; i++) {
    const c = <i32>v.byteAt(i);
    if (c < 0x30 || c > 0x39) {
      code = 0;
      break;
    }
    code = code * 10 + (c - 0x30);
  }
  if (v.size != 3) code = 0;
  v.release();
  return code;
}

export class Reporter {
  config: Config = new Config();
  configured: bool = false;
  readonly reporterId: string;
  private nextSeq: u64 = 1;
  private cluster: ArrayBuffer = new ArrayBuffer(0);
  private headers: ArrayBuffer = new ArrayBuffer(0);
  private heartbeatBody: ArrayBuffer = String.UTF8.encode(HEARTBEAT_BODY);
  private workload: string = 'unknown';
  private namespace: string = 'unknown';
  private pod: string = 'unknown';
  aggregate: Aggregate = new Aggregate(64);
  private outbox: Outbox = new Outbox(12);
  private windowStartMs: u64 = 0;
  /** Requests finished since the last tick; flushed to the metric once per tick, not per request. */
  observedSinceTick: u64 = 0;
  private delivering: bool = true;
  private failuresInRow: u64 = 0;
  private mSent: i64 = -1;
  private mFailed: i64 = -1;
  private mDropped: i64 = -1;
  private mObserved: i64 = -1;
  private mPending: i64 = -1;

  constructor(public contextId: u32) {
    this.reporterId = hex16(random64());
  }

  /** proxy_on_configure: false refuses the configuration (Envoy then rejects it). */
  configure(size: u32): bool {
    let text: string | null = '';
    if (size > 0) text = getBufferString(BufferType.PluginConfiguration, size);
    if (text === null) text = '';
    const result: ConfigResult = parseConfig(text);
    const config = result.config;
    if (config === null) {
      log(LogLevel.Critical, 'mesha reporter: invalid configuration: ' + result.error);
      return false;
    }
    this.config = config;
    this.cluster = String.UTF8.encode(config.cluster);
    this.headers = this.encodeHeaders(config);
    this.aggregate = new Aggregate(config.maxKeys);
    this.outbox.maxPending = config.maxPending;
    this.workload = sourceName(getPropertyString('node.metadata.WORKLOAD_NAME'));
    this.namespace = sourceName(getPropertyString('node.metadata.NAMESPACE'));
    this.pod = sourceName(getPropertyString('node.metadata.NAME'));
    this.windowStartMs = nowNanos() / 1000000;
    if (!this.configured) this.defineMetrics();
    this.configured = true;
    const status = setTickPeriod(config.tickMs);
    if (status != Status.Ok) {
      log(LogLevel.Critical, 'failed to set tick period: ' + statusError(status));
      return false;
    }
    log(LogLevel.Info, 'set tick period milliseconds: ' + config.tickMs.toString());
    if (config.mode == Mode.Traffic) {
      log(LogLevel.Info, 'mesha reporter ' + this.reporterId + ': traffic mode, reporting to ' + config.cluster);
    }
    return true;
  }

  private encodeHeaders(config: Config): ArrayBuffer {
    const names = new Array<string>();
    const values = new Array<string>();
    if (config.mode == Mode.Heartbeat) {
      // The seed's headers, in the seed's order.
      names.push(':method'); values.push('POST');
      names.push(':authority'); values.push(config.authority);
      names.push('melonMsg'); values.push(config.message);
      names.push(':path'); values.push(config.path);
      names.push('accept'); values.push('*/*');
    } else {
      names.push(':method'); values.push('POST');
      names.push(':path'); values.push(config.path);
      names.push(':authority'); values.push(config.authority);
      names.push('content-type'); values.push('application/json');
      names.push('melonMsg'); values.push(config.message);
      names.push('x-mesha-reporter'); values.push(this.reporterId);
    }
    for (let i = 0; i < config.headerNames.length; i++) {
      names.push(config.headerNames[i]);
      values.push(config.headerValues[i]);
    }
    return encodeHeaderMap(names, values);
  }

  private defineMetrics(): void {
    this.mSent = defineMetric(MetricType.Counter, 'mesha_reporter_reports_sent');
    this.mFailed = defineMetric(MetricType.Counter, 'mesha_reporter_reports_failed');
    this.mDropped = defineMetric(MetricType.Counter, 'mesha_reporter_reports_dropped');
    this.mObserved = defineMetric(MetricType.Counter, 'mesha_reporter_requests_observed');
    this.mPending = defineMetric(MetricType.Gauge, 'mesha_reporter_reports_pending');
  }

  record(o: Observation): void {
    this.aggregate.add(o);
    this.observedSinceTick++;
  }

  tick(): void {
    if (!this.configured) return;
    if (this.config.mode == Mode.Heartbeat) this.heartbeat();
    else this.report();
  }

  private heartbeat(): void {
    log(LogLevel.Info, 'OnTick method is called before dispatchHttpCall ');
    const r = httpCall(this.cluster, this.headers, this.heartbeatBody, this.config.timeoutMs);
    if (r.status != Status.Ok) {
      incrementMetric(this.mFailed, 1);
      log(LogLevel.Critical, 'dispatch httpcall failed: ' + statusError(r.status));
    }
    log(LogLevel.Info, 'OnTick method is called after dispatchHttpCall ');
  }

  private report(): void {
    incrementMetric(this.mObserved, this.observedSinceTick);
    this.observedSinceTick = 0;
    const nowMs = nowNanos() / 1000000;
    if (!this.aggregate.isEmpty()) {
      const head = new ReportHead(this.reporterId, this.workload, this.namespace, this.pod, this.windowStartMs, nowMs);
      const bodies = this.aggregate.toReports(head, this.nextSeq);
      this.aggregate.clear();
      this.windowStartMs = nowMs;
      for (let i = 0; i < bodies.length; i++) {
        const dropped = this.outbox.push(new Pending(this.nextSeq++, bodies[i]));
        if (dropped > 0) {
          incrementMetric(this.mDropped, dropped);
          log(LogLevel.Warn, 'mesha reporter: dropped ' + dropped.toString() + ' undelivered report(s) past max_pending');
        }
      }
    }
    this.send(nowMs);
    recordMetric(this.mPending, this.outbox.length);
  }

  /** (Re-)sends every pending report not already awaiting an answer. */
  private send(nowMs: u64): void {
    // An answer always comes (reply, timeout or reset); this only guards against a host that loses one.
    const staleMs = <u64>this.config.timeoutMs * 2 + <u64>this.config.tickMs;
    const items = this.outbox.items;
    let refused = 0;
    let lastStatus: u32 = 0;
    for (let i = 0; i < items.length; i++) {
      const p = items[i];
      if (p.inFlight && nowMs - p.sentAtMs < staleMs) continue;
      const r: CallResult = httpCall(this.cluster, this.headers, p.body, this.config.timeoutMs);
      if (r.status == Status.Ok) {
        p.inFlight = true;
        p.token = r.token;
        p.sentAtMs = nowMs;
      } else {
        p.inFlight = false;
        refused++;
        lastStatus = r.status;
      }
    }
    if (refused > 0) {
      incrementMetric(this.mFailed, refused);
      this.failed('dispatch refused: ' + statusError(lastStatus));
    }
  }

  private failed(why: string): void {
    this.failuresInRow++;
    if (this.delivering) {
      log(LogLevel.Warn, 'mesha reporter: reports not delivered (' + why + '); keeping up to ' + this.config.maxPending.toString() + ' for retry');
    }
    this.delivering = false;
  }

  onHttpCallResponse(token: u32, headers: u32): void {
    if (this.config.mode == Mode.Heartbeat) {
      log(LogLevel.Info, 'wasm callback...');
      const code = headers > 0 ? callStatus() : 0;
      if (code >= 200 && code < 300) incrementMetric(this.mSent, 1);
      else incrementMetric(this.mFailed, 1);
      return;
    }
    const i = this.outbox.indexOfToken(token);
    if (i < 0) return;
    const code = headers > 0 ? callStatus() : 0;
    if (code >= 200 && code < 300) {
      this.outbox.removeAt(i);
      incrementMetric(this.mSent, 1);
      if (!this.delivering) {
        log(LogLevel.Info, 'mesha reporter: delivering again after ' + this.failuresInRow.toString() + ' failed attempt(s)');
        this.delivering = true;
        this.failuresInRow = 0;
      }
    } else {
      this.outbox.items[i].inFlight = false;
      incrementMetric(this.mFailed, 1);
      this.failed(code == 0 ? 'no answer (timeout or connection failure)' : 'collector answered ' + code.toString());
    }
    recordMetric(this.mPending, this.outbox.length);
  }
}
