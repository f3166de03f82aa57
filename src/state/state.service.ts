import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { InjectPinoLogger, PinoLogger } from 'nestjs-pino';
import { Counter, Gauge } from 'prom-client';
import { CLOCK, type Clock } from '../common/clock';
import type { AppConfig } from '../config/config.schema';
import { BODY_BYTES_BUCKETS } from '../ingest/body-bytes-buckets';
import { MetricsService } from '../metrics/metrics.service';
import type { ReportV1 } from '../reports/report.types';
import type { DurableTotals, StructuredReport, Totals } from '../reports/report-version';
import {
  GroupCommitLog,
  readLog,
  rewriteLog,
  StateFileError,
  type StateWriteError,
} from './state-log';
import { TextTotals, type TextApplied, type TextRestore, type TextSnapshot } from './text-totals';
import { TrafficState, type RestoreTarget } from './traffic-state';

export const STATE_FILE = 'mesha-state.log';

/** A write failure is logged at most once per this many ms (the rest are counted in the next line). */
const FAILURE_LOG_EVERY_MS = 10_000;

type Entry =
  | { kind: 'snapshot'; state: ReturnType<TrafficState['toJSON']>; text?: TextSnapshot }
  | { kind: 'text'; report: TextApplied }
  | { kind: 'rejected'; reason: string }
  | { kind: 'report'; atMs: number; report: Pick<ReportV1, 'reporter' | 'source' | 'counts'> }
  | { kind: 'version'; v: number; atMs: number; report: StructuredReport; totals: Totals };

/**
 * Durable state under STATE_DIR (off when unset: everything stays in memory). What reports applied
 * is appended to an append-only log with group commit: structured reports are applied, then
 * recorded, and acknowledged once durable(); seed-style text reports are recorded first and applied
 * only once on disk (recordText), so a write that fails leaves them unapplied. At start-up the log
 * is read (a foreign, newer or damaged file stops mesha with a message saying so), handed back to
 * the features, and compacted into one snapshot record; it is compacted again whenever it grows past
 * STATE_COMPACT_BYTES. A failed write makes the reports waiting for it fail (503) and the next group
 * rewrite the file whole: the log recovers by itself once the disk does.
 */
@Injectable()
export class StateService implements OnApplicationShutdown {
  private readonly traffic: TrafficState;
  private readonly text: TextTotals;
  private readonly path: string | undefined;
  private readonly log: GroupCommitLog | undefined;
  /** True with STATE_DIR: callers check it before building anything to record. */
  readonly enabled: boolean;
  private readonly failuresByCode = new Map<string, number>();
  private failureLog = { lastMs: -Infinity, suppressed: 0 };

  constructor(
    config: ConfigService<AppConfig, true>,
    @InjectPinoLogger('State') private readonly logger: PinoLogger,
    private readonly metrics: MetricsService,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {
    const maxSeries = config.get('MAX_SERIES', { infer: true });
    const ttlMs = config.get('SERIES_TTL_SECONDS', { infer: true }) * 1000;
    this.traffic = new TrafficState(maxSeries, config.get('MAX_REPORTERS', { infer: true }), ttlMs);
    this.text = new TextTotals(maxSeries, ttlMs, BODY_BYTES_BUCKETS);
    const dir = config.get('STATE_DIR', { infer: true });
    this.enabled = dir !== undefined;
    if (dir === undefined) return;
    mkdirSync(dir, { recursive: true });
    this.path = join(dir, STATE_FILE);
    rmSync(`${this.path}.new`, { force: true }); // a compaction a crash interrupted: the old file stands
    const started = Date.now();
    let records = 0;
    if (existsSync(this.path)) {
      const read = readLog(this.path);
      records = read.records.length;
      for (const payload of read.records) this.replay(payload);
      if (read.tornTailBytes > 0) {
        logger.warn(
          { path: this.path, bytes: read.tornTailBytes },
          'state: dropped a last record cut short by a crash (it was never acknowledged)',
        );
      }
    }
    // The TTL applies across the restart (the time mesha was down counts as idle); what is left
    // starts a fresh TTL, as its series in the metrics do.
    const now = clock.now();
    this.traffic.expire(now, true);
    this.text.expire(now, true);
    const snapshot = this.snapshotRecord();
    rewriteLog(this.path, [snapshot]);
    this.log = new GroupCommitLog(
      this.path,
      snapshot.length + 24,
      {
        bytes: config.get('STATE_COMPACT_BYTES', { infer: true }),
        snapshot: () => [this.compactedRecord()],
      },
      {
        onFailure: (error) => this.failed(error),
        onRecovered: () => this.logger.info('state: the state log is written again'),
      },
    );
    this.registerMetrics(metrics);
    logger.info(
      { path: this.path, records, series: this.traffic.seriesCount, ms: Date.now() - started },
      'state: restored',
    );
  }

  /** Gives the restored state to the reports feature (once, at start-up). */
  restoreInto(target: RestoreTarget): void {
    this.traffic.restoreInto(target);
  }

  /** The seed-style reports' totals kept before the restart (once, at start-up); none without STATE_DIR. */
  restoreText(): TextRestore | undefined {
    return this.enabled ? this.text.restore() : undefined;
  }

  /**
   * Keeps an applied report: it is in memory at once and on disk with the next group commit; see
   * durable(). Without STATE_DIR it does nothing.
   */
  record(report: ReportV1, atMs: number): void {
    if (!this.log) return;
    this.traffic.apply(report, atMs);
    const entry: Entry = {
      kind: 'report',
      atMs,
      report: { reporter: report.reporter, source: report.source, counts: report.counts },
    };
    void this.append(entry).catch(() => undefined); // durable() reports the failure
  }

  /**
   * Keeps an applied report of another version (v2...), like record(): its reporter's exactly-once
   * window always, and its totals when the version says how (`durable`).
   */
  recordVersion<R extends StructuredReport>(
    version: number,
    report: R,
    durable: DurableTotals<R> | undefined,
    atMs: number,
  ): void {
    if (!this.log) return;
    const identity = { reporter: report.reporter, source: report.source };
    const totals = durable?.totalsOf(report) ?? [];
    this.traffic.applyVersion(version, identity, totals, atMs);
    void this.append({ kind: 'version', v: version, atMs, report: identity, totals }).catch(
      () => undefined,
    );
  }

  /**
   * A seed-style text report: written to the log first; `apply` (its metrics) runs once it is on
   * disk, just before the returned promise resolves. If the write fails, the promise rejects with a
   * StateWriteError and nothing was applied. Only with STATE_DIR (see `enabled`).
   */
  recordText(report: TextApplied, apply: () => void): Promise<void> {
    if (!this.log) throw new Error('recordText() without STATE_DIR');
    return this.append({ kind: 'text', report }, () => {
      this.text.apply(report);
      apply();
    });
  }

  /** The ingest counters of a structured report already applied (made durable with it). */
  recordAccepted(report: TextApplied): void {
    if (!this.log) return;
    this.text.apply(report);
    void this.append({ kind: 'text', report }).catch(() => undefined);
  }

  /** A refused report (mesha_rejected_reports_total): kept with the next commit, not waited for. */
  recordRejected(reason: string): void {
    if (!this.log) return;
    this.text.rejectedReport(reason);
    void this.append({ kind: 'rejected', reason }).catch(() => undefined);
  }

  /** Hands a version's totals kept before the restart to it (when it registers). */
  restoreVersion(version: number, durable: Pick<DurableTotals<unknown>, 'restore'>): void {
    if (this.path === undefined) return;
    const totals = this.traffic.versionTotals(version);
    if (totals.length > 0) durable.restore(totals);
  }

  private append(entry: Entry, onDurable?: () => void): Promise<void> {
    const payload = Buffer.from(JSON.stringify(entry), 'utf8');
    return (this.log as GroupCommitLog).append(payload, onDurable);
  }

  /**
   * Resolves once every report recorded so far is on disk; rejects with a StateWriteError if the
   * disk failed it (after a failure, it makes the log try again): callers acknowledge a report only
   * after this.
   */
  durable(): Promise<void> {
    return this.log ? this.log.sync() : Promise.resolve();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.log?.close();
  }

  /** Counted per errno code, and logged at most once per FAILURE_LOG_EVERY_MS. */
  private failed(error: StateWriteError): void {
    this.failuresByCode.set(error.code, (this.failuresByCode.get(error.code) ?? 0) + 1);
    const now = Date.now();
    if (now - this.failureLog.lastMs < FAILURE_LOG_EVERY_MS) {
      this.failureLog.suppressed++;
      return;
    }
    this.logger.error(
      { code: error.code, suppressed: this.failureLog.suppressed },
      'state: the state log could not be written; reports are refused (503) until it can',
    );
    this.failureLog = { lastMs: now, suppressed: 0 };
  }

  /** mesha_state_*: how well group commit groups (records per commit) and how big the log is. */
  private registerMetrics(metrics: MetricsService): void {
    const log = this.log as GroupCommitLog;
    const registers = [metrics.registry];
    new Counter({
      name: 'mesha_state_commits_total',
      help: 'Group commits of the state log (one fdatasync each)',
      registers,
      collect() {
        this.reset();
        this.inc(log.stats.groups);
      },
    });
    new Counter({
      name: 'mesha_state_records_committed_total',
      help: 'Records (applied reports) made durable in the state log',
      registers,
      collect() {
        this.reset();
        this.inc(log.stats.records);
      },
    });
    new Gauge({
      name: 'mesha_state_log_bytes',
      help: 'Size of the state log since it was last compacted',
      registers,
      collect() {
        this.set(log.stats.bytes);
      },
    });
    const failures = this.failuresByCode;
    new Counter({
      name: 'mesha_state_write_failures_total',
      help: 'Group writes of the state log that failed, by system error code (their reports got 503)',
      labelNames: ['code'],
      registers,
      collect() {
        this.reset();
        for (const [code, n] of failures) this.inc({ code }, n);
      },
    });
    new Gauge({
      name: 'mesha_state_write_failing',
      help: '1 while the state log cannot be written (reports are refused with 503), else 0',
      registers,
      collect() {
        this.set(log.failed ? 1 : 0);
      },
    });
  }

  /** The whole state for a compaction: the metrics' TTL sweep first, so both forget the same sets. */
  private compactedRecord(): Buffer {
    this.metrics.sweep();
    const now = this.clock.now();
    this.traffic.expire(now);
    this.text.expire(now);
    return this.snapshotRecord();
  }

  private snapshotRecord(): Buffer {
    const entry: Entry = {
      kind: 'snapshot',
      state: this.traffic.toJSON(),
      text: this.text.toJSON(),
    };
    return Buffer.from(JSON.stringify(entry), 'utf8');
  }

  private replay(payload: Buffer): void {
    let entry: Entry;
    try {
      entry = JSON.parse(payload.toString('utf8')) as Entry;
    } catch {
      throw new StateFileError(`${this.path} holds a record that is not JSON`);
    }
    if (entry.kind === 'snapshot') {
      this.traffic.load(entry.state);
      if (entry.text) this.text.load(entry.text);
    } else if (entry.kind === 'report') this.traffic.apply(entry.report as ReportV1, entry.atMs);
    else if (entry.kind === 'version')
      this.traffic.applyVersion(entry.v, entry.report, entry.totals, entry.atMs);
    else if (entry.kind === 'text') this.text.apply(entry.report);
    else if (entry.kind === 'rejected') this.text.rejectedReport(entry.reason);
    else throw new StateFileError(`${this.path} holds a record of unknown kind`);
  }
}
