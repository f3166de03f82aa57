import Ajv2020 from 'ajv/dist/2020';
import { schemaProblem } from '../reports/schema-error';
import schema from '../reports/report-v2.schema.json';
import type { ReportV2 } from './report-v2.types';

const validate = new Ajv2020({ allErrors: false, strict: true }).compile<ReportV2>(schema);

export type ReportV2Check = { ok: true; report: ReportV2 } | { ok: false; problem: string };

/** Entries of both kinds per report (the schema bounds each array alone). */
const MAX_ENTRIES = 1024;

const HISTOGRAMS = ['duration_ms', 'request_bytes', 'response_bytes'] as const;

/**
 * The schema, then what it cannot say: every index names a string of the report, each histogram
 * adds up to its entry's n, the window does not end before it starts. Nothing is applied before.
 */
export function checkReportV2(value: unknown): ReportV2Check {
  if (!validate(value)) return { ok: false, problem: schemaProblem(validate) };
  if (value.window.end_ms < value.window.start_ms) {
    return { ok: false, problem: '/window/end_ms: must not be before /window/start_ms' };
  }
  const strings = value.strings.length;
  const tcp = value.tcp ?? [];
  if (value.http.length + tcp.length > MAX_ENTRIES) {
    return { ok: false, problem: `/tcp: must have at most ${MAX_ENTRIES} entries with /http` };
  }
  for (const [i, entry] of tcp.entries()) {
    const bad = entry.d.findIndex((index) => index >= strings);
    if (bad >= 0) {
      return {
        ok: false,
        problem: `/tcp/${i}/d/${bad}: must index /strings (${strings} strings), got ${entry.d[bad]}`,
      };
    }
  }
  for (const [i, entry] of value.http.entries()) {
    const bad = entry.d.findIndex((index) => index >= strings);
    if (bad >= 0) {
      return {
        ok: false,
        problem: `/http/${i}/d/${bad}: must index /strings (${strings} strings), got ${entry.d[bad]}`,
      };
    }
    for (const name of HISTOGRAMS) {
      const sum = entry[name].reduce((total, n) => total + n, 0);
      if (sum !== entry.n) {
        return {
          ok: false,
          problem: `/http/${i}/${name}: must add up to n (${entry.n}), they add up to ${sum}`,
        };
      }
    }
  }
  return { ok: true, report: value };
}
