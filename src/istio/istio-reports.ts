import { Injectable, type OnModuleInit } from '@nestjs/common';
import type { ReportVersion, VersionCheck } from '../reports/report-version';
import { istioDurableTotals } from './istio-durable';
import { ReportsService } from '../reports/reports.service';
import { IstioMetrics } from './istio.metrics';
import { checkReportV2 } from './report-v2-validator';
import type { ReportV2 } from './report-v2.types';

/** Report version 2 (the reporter's istio mode): checked here, applied to Istio's families. */
@Injectable()
export class IstioReports implements ReportVersion<ReportV2>, OnModuleInit {
  readonly version = 2;
  /** Kept across restarts under STATE_DIR (src/state). */
  readonly durable = istioDurableTotals((report) => this.metrics.applied(report));

  constructor(
    private readonly reports: ReportsService,
    private readonly metrics: IstioMetrics,
  ) {}

  onModuleInit(): void {
    this.reports.registerVersion(this);
  }

  check(value: unknown): VersionCheck<ReportV2> {
    return checkReportV2(value);
  }

  apply(report: ReportV2): void {
    this.metrics.applied(report);
  }

  size(report: ReportV2): { counts: number; requests: number } {
    const tcp = report.tcp ?? [];
    return {
      counts: report.http.length + tcp.length,
      requests: report.http.reduce((total, entry) => total + entry.n, 0),
    };
  }
}
