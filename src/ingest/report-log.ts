import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { InjectPinoLogger, PinoLogger } from 'nestjs-pino';
import type { AppConfig } from '../config/config.schema';
import type { ReportSummary } from '../reports/reports.service';
import { isoTimeFormatter, seedTimeFormatter } from '../common/time-text';
import type { QueryParams, TextReport } from './wasm-callback.request';

const NO_PARAMS: Record<string, string | string[]> = Object.freeze(Object.create(null));

/**
 * Query parameters as a plain-data object for the log: no prototype, so `__proto__` and
 * `constructor` are ordinary keys; a repeated key keeps all its values, in order.
 */
export function paramsObject(params: QueryParams): Record<string, string | string[]> {
  if (params.length === 0) return NO_PARAMS;
  const out = Object.create(null) as Record<string, string | string[]>;
  for (const [key, value] of params) {
    const previous = Object.hasOwn(out, key) ? out[key] : undefined;
    if (previous === undefined) out[key] = value;
    else if (Array.isArray(previous)) previous.push(value);
    else out[key] = [previous, value];
  }
  return out;
}

/** One report's log line: the fields every report has, then those of its kind. */
interface ReportLine {
  context: 'ReportLog';
  event: 'report';
  receivedAt: string;
  date: string;
  params: Record<string, string | string[]>;
  melonMsg: string;
  [field: string]: unknown;
}

/**
 * Writes the one log line of each accepted report. This runs once per report: the line is one
 * object whose kind-specific fields are added to it (not a spread of shared fields, which copies).
 */
@Injectable()
export class ReportLog {
  private readonly bodyMaxChars: number;
  private readonly isoTime = isoTimeFormatter();
  private readonly seedTime = seedTimeFormatter();

  constructor(
    @InjectPinoLogger('ReportLog') private readonly logger: PinoLogger,
    config: ConfigService<AppConfig, true>,
  ) {
    this.bodyMaxChars = config.get('LOG_BODY_MAX_CHARS', { infer: true });
  }

  textReport(report: TextReport): void {
    const text = report.body.toString('utf8');
    const truncated = text.length > this.bodyMaxChars;
    const line = this.line(report);
    line.body = truncated ? text.slice(0, this.bodyMaxChars) : text;
    line.bodyBytes = report.body.length;
    line.bodyTruncated = truncated;
    line.remoteAddress = report.remoteAddress;
    // PinoLogger.logger is the pino instance: one object per line, no copy to add the context.
    this.logger.logger.info(line, 'report accepted');
  }

  /** Structured reports are summarised, not dumped: who sent it, which seq, how much, re-sent or not. */
  structuredReport(report: TextReport, summary: ReportSummary): void {
    const line = this.line(report);
    line.report = summary;
    line.bodyBytes = report.body.length;
    line.remoteAddress = report.remoteAddress;
    this.logger.logger.info(
      line,
      summary.duplicate
        ? 'structured report re-sent: already counted'
        : 'structured report accepted',
    );
  }

  /** Writes out the lines buffered so far (see log-destination.ts). */
  flush(): void {
    this.logger.logger.flush();
  }

  private line(report: TextReport): ReportLine {
    return {
      context: 'ReportLog',
      event: 'report',
      receivedAt: this.isoTime(report.receivedAtMs),
      date: this.seedTime(report.receivedAtMs),
      params: paramsObject(report.params),
      melonMsg: report.melonMsg,
    };
  }
}
