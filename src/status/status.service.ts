import { Inject, Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { CLOCK, type Clock } from '../common/clock';
import type { AppConfig } from '../config/config.schema';
import { ServedFilter } from '../filter/served-filter';
import { MetricsService } from '../metrics/metrics.service';
import { ReportsService } from '../reports/reports.service';

/** Reporters listed on the page and in the JSON; the rest are counted. */
export const REPORTERS_SHOWN = 200;

export interface ReporterStatus {
  id: string;
  workload: string;
  namespace: string;
  pod: string;
  lastSeen: string;
  lastSeenSecondsAgo: number;
  lastSeq: number;
  duplicates: number;
}

export interface SeriesStatus {
  metric: string;
  series: number;
  limit: number;
  /** Updates that went to the `__overflow__` series since start-up. */
  dropped: number;
}

export type FilterStatus =
  | { served: true; route: string; bytes: number; sha256: string }
  | { served: false; route: string; reason: string };

/** GET /api/v1/status; the HTML page renders the same object. */
export interface StatusSnapshot {
  version: string;
  now: string;
  startedAt: string;
  uptimeSeconds: number;
  reporters: {
    live: number;
    windowSeconds: number;
    shown: ReporterStatus[];
    /** True when more reporters are live than `shown` lists (the stalest are listed). */
    truncated: boolean;
  };
  series: SeriesStatus[];
  rejections: Array<{ reason: string; total: number }>;
  duplicates: number;
  filter: FilterStatus;
}

/** mesha's version: package.json two folders up, from src/status and from dist/status alike. */
function readVersion(): string {
  try {
    const pkg = JSON.parse(
      readFileSync(resolve(__dirname, '..', '..', 'package.json'), 'utf8'),
    ) as {
      version?: unknown;
    };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

/** Gathers what the status page shows from the registry, the live reporters and the served filter. */
@Injectable()
export class StatusService {
  private readonly version = readVersion();
  private readonly startedAtMs: number;
  private readonly windowSeconds: number;

  constructor(
    private readonly metrics: MetricsService,
    private readonly reports: ReportsService,
    private readonly filter: ServedFilter,
    config: ConfigService<AppConfig, true>,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {
    this.startedAtMs = clock.now();
    this.windowSeconds = config.get('REPORTER_LIVE_SECONDS', { infer: true });
  }

  async snapshot(): Promise<StatusSnapshot> {
    const nowMs = this.clock.now();
    const { live, shown } = this.reports.liveReporters(REPORTERS_SHOWN);
    const dropped = await this.valuesBy('mesha_series_dropped_total', 'metric');
    return {
      version: this.version,
      now: new Date(nowMs).toISOString(),
      startedAt: new Date(this.startedAtMs).toISOString(),
      uptimeSeconds: Math.max(0, Math.floor((nowMs - this.startedAtMs) / 1000)),
      reporters: {
        live,
        windowSeconds: this.windowSeconds,
        shown: shown.map((r) => ({
          id: r.id,
          workload: r.workload,
          namespace: r.namespace,
          pod: r.pod,
          lastSeen: new Date(r.lastSeenMs).toISOString(),
          lastSeenSecondsAgo: Math.max(0, Math.round((nowMs - r.lastSeenMs) / 1000)),
          lastSeq: r.lastSeq,
          duplicates: r.duplicates,
        })),
        truncated: live > shown.length,
      },
      series: this.metrics
        .seriesUsage()
        .map((usage) => ({ ...usage, dropped: dropped.get(usage.metric) ?? 0 })),
      rejections: [...(await this.valuesBy('mesha_rejected_reports_total', 'reason'))].map(
        ([reason, total]) => ({ reason, total }),
      ),
      duplicates: (await this.valuesBy('mesha_duplicate_reports_total')).get('') ?? 0,
      filter: this.filterStatus(),
    };
  }

  /** A metric's samples summed by one label (or all under '' without one); empty when not registered. */
  private async valuesBy(name: string, label?: string): Promise<Map<string, number>> {
    const totals = new Map<string, number>();
    const metric = this.metrics.registry.getSingleMetric(name);
    if (!metric) return totals;
    for (const { labels, value } of (await metric.get()).values) {
      const key = label === undefined ? '' : String(labels[label] ?? '');
      totals.set(key, (totals.get(key) ?? 0) + value);
    }
    return totals;
  }

  private filterStatus(): FilterStatus {
    const { route, artifact } = this.filter;
    if (artifact === undefined) return { served: false, route, reason: 'FILTER_ROUTE is off' };
    if (!artifact.available) return { served: false, route, reason: artifact.reason };
    return { served: true, route, bytes: artifact.bytes.length, sha256: artifact.sha256 };
  }
}
