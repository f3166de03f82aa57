import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { InjectPinoLogger, PinoLogger } from 'nestjs-pino';
import type { AppConfig } from '../config/config.schema';
import type { ReportSummary } from '../reports/reports.service';
import type { QueryParams, TextReport } from './wasm-callback.request';

const pad = (n: number) => String(n).padStart(2, '0');

/** The seed's `yyyy-MM-dd HH:mm:ss`, in the server's local time zone as the seed printed it. */
export function seedTime(ms: number): string {
  const d = new Date(ms);
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
  );
}

/**
 * Query parameters as a plain-data object for the log: no prototype, so `__proto__` and
 * `constructor` are ordinary keys; a repeated key keeps all its values, in order.
 */
export function paramsObject(params: QueryParams): Record<string, string | string[]> {
  const out = Object.create(null) as Record<string, string | string[]>;
  for (const [key, value] of params) {
    const previous = Object.hasOwn(out, key) ? out[key] : undefined;
    if (previous === undefined) out[key] = value;
    else if (Array.isArray(previous)) previous.push(value);
    else out[key] = [previous, value];
  }
  return out;
}

/** Writes the one log line of each accepted seed-style report. */
@Injectable()
export class ReportLog {
  private readonly bodyMaxChars: number;

  constructor(
    @InjectPinoLogger('ReportLog') private readonly logger: PinoLogger,
    config: ConfigService<AppConfig, true>,
  ) {
    this.bodyMaxChars = config.get('LOG_BODY_MAX_CHARS', { infer: true });
  }

  textReport(report: TextReport): void {
    const text = report.body.toString('utf8');
    const truncated = text.length > this.bodyMaxChars;
    // PinoLogger.logger is the pino instance: one object per line, no copy to add the context.
    this.logger.logger.info(
      {
        ...baseFields(report),
        body: truncated ? text.slice(0, this.bodyMaxChars) : text,
        bodyBytes: report.body.length,
        bodyTruncated: truncated,
        remoteAddress: report.remoteAddress,
      },
      'report accepted',
    );
  }

  /** Structured reports are summarised, not dumped: who sent it, which seq, how much, re-sent or not. */
  structuredReport(report: TextReport, summary: ReportSummary): void {
    this.logger.logger.info(
      {
        ...baseFields(report),
        report: summary,
        bodyBytes: report.body.length,
        remoteAddress: report.remoteAddress,
      },
      summary.duplicate
        ? 'structured report re-sent: already counted'
        : 'structured report accepted',
    );
  }
}

/** The fields every report log line starts with, text or structured. */
function baseFields(report: TextReport) {
  return {
    context: 'ReportLog',
    event: 'report',
    receivedAt: new Date(report.receivedAtMs).toISOString(),
    date: seedTime(report.receivedAtMs),
    params: paramsObject(report.params),
    melonMsg: report.melonMsg,
  };
}
