import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { InjectPinoLogger, PinoLogger } from 'nestjs-pino';
import { Counter, Gauge } from 'prom-client';
import type { AppConfig } from '../config/config.schema';
import { MetricsService } from '../metrics/metrics.service';
import type { ReportV1 } from '../reports/report.types';
import type { DurableTotals, StructuredReport, Totals } from '../reports/report-version';
import { GroupCommitLog, readLog, rewriteLog, StateFileError } from './state-log';
import { TrafficState, type RestoreTarget } from './traffic-state';

export const STATE_FILE = 'mesha-state.log';

type Entry =
  | { kind: 'snapshot'; state: ReturnType<TrafficState['toJSON']> }
  | { kind: 'report'; atMs: number; report: Pick<ReportV1, 'reporter' | 'source' | 'counts'> }
  | { kind: 'version'; v: number; atMs: number; report: StructuredReport; totals: Totals };

/**
 * Durable state under STATE_DIR (off when unset: everything stays in memory). Structured reports
 * that were applied are appended to an append-only log with group commit; durable() resolves once
 * they are on disk, and only then are they acknowledged. At start-up the log is read (a foreign,
 * newer or damaged file stops mesha with a message saying so), handed back to the reports feature,
 * and compacted into one snapshot record; it is compacted again whenever it grows past
 * STATE_COMPACT_BYTES.
 */
@Injectable()
export class StateService implements OnApplicationShutdown {
  private readonly traffic: TrafficState;
  private readonly path: string | undefined;
  private log: GroupCommitLog | undefined;
  private opening: Promise<GroupCommitLog> | undefined;
  private readonly compactBytes: number;
  private lastWrite: Promise<void> = Promise.resolve();

  constructor(
    config: ConfigService<AppConfig, true>,
    @InjectPinoLogger('State') private readonly logger: PinoLogger,
    metrics: MetricsService,
  ) {
    this.traffic = new TrafficState(
      config.get('MAX_SERIES', { infer: true }),
      config.get('MAX_REPORTERS', { infer: true }),
    );
    this.compactBytes = config.get('STATE_COMPACT_BYTES', { infer: true });
    const dir = config.get('STATE_DIR', { infer: true });
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
    rewriteLog(this.path, [this.snapshotRecord()]);
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

  /**
   * Keeps an applied report: it is in memory at once and on disk with the next group commit; see
   * durable(). Without STATE_DIR it does nothing.
   */
  record(report: ReportV1, atMs: number): void {
    const path = this.path;
    if (path === undefined) return;
    this.traffic.apply(report, atMs);
    const entry: Entry = {
      kind: 'report',
      atMs,
      report: { reporter: report.reporter, source: report.source, counts: report.counts },
    };
    this.append(path, entry);
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
    const path = this.path;
    if (path === undefined) return;
    const identity = { reporter: report.reporter, source: report.source };
    const totals = durable?.totalsOf(report) ?? [];
    this.traffic.applyVersion(version, identity, totals, atMs);
    this.append(path, { kind: 'version', v: version, atMs, report: identity, totals });
  }

  /** Hands a version's totals kept before the restart to it (when it registers). */
  restoreVersion(version: number, durable: Pick<DurableTotals<unknown>, 'restore'>): void {
    if (this.path === undefined) return;
    const totals = this.traffic.versionTotals(version);
    if (totals.length > 0) durable.restore(totals);
  }

  private append(path: string, entry: Entry): void {
    const payload = Buffer.from(JSON.stringify(entry), 'utf8');
    this.lastWrite = this.openLog(path).then((log) => log.append(payload));
  }

  /**
   * Resolves once every report recorded so far is on disk (rejects if the disk failed it): callers
   * acknowledge a report only after this.
   */
  durable(): Promise<void> {
    return this.lastWrite;
  }

  async onApplicationShutdown(): Promise<void> {
    const log = this.log ?? (await this.opening);
    await log?.close();
  }

  private openLog(path: string): Promise<GroupCommitLog> {
    if (this.log) return Promise.resolve(this.log);
    this.opening ??= GroupCommitLog.open(path, {
      bytes: this.compactBytes,
      snapshot: () => [this.snapshotRecord()],
    }).then((log) => (this.log = log));
    return this.opening;
  }

  /** mesha_state_*: how well group commit groups (records per commit) and how big the log is. */
  private registerMetrics(metrics: MetricsService): void {
    const stats = () => this.log?.stats ?? { groups: 0, records: 0, bytes: 0 };
    const registers = [metrics.registry];
    new Counter({
      name: 'mesha_state_commits_total',
      help: 'Group commits of the state log (one fdatasync each)',
      registers,
      collect() {
        this.reset();
        this.inc(stats().groups);
      },
    });
    new Counter({
      name: 'mesha_state_records_committed_total',
      help: 'Applied structured reports made durable in the state log',
      registers,
      collect() {
        this.reset();
        this.inc(stats().records);
      },
    });
    new Gauge({
      name: 'mesha_state_log_bytes',
      help: 'Size of the state log since it was last compacted',
      registers,
      collect() {
        this.set(stats().bytes);
      },
    });
  }

  private snapshotRecord(): Buffer {
    const entry: Entry = { kind: 'snapshot', state: this.traffic.toJSON() };
    return Buffer.from(JSON.stringify(entry), 'utf8');
  }

  private replay(payload: Buffer): void {
    let entry: Entry;
    try {
      entry = JSON.parse(payload.toString('utf8')) as Entry;
    } catch {
      throw new StateFileError(`${this.path} holds a record that is not JSON`);
    }
    if (entry.kind === 'snapshot') this.traffic.load(entry.state);
    else if (entry.kind === 'report') this.traffic.apply(entry.report as ReportV1, entry.atMs);
    else if (entry.kind === 'version')
      this.traffic.applyVersion(entry.v, entry.report, entry.totals, entry.atMs);
    else throw new StateFileError(`${this.path} holds a record of unknown kind`);
  }
}
