import type { DurableTotals, Totals } from '../reports/report-version';
import { ENVOY_BUCKETS, ISTIO_LABELS, type HttpEntry, type ReportV2 } from './report-v2.types';

/** Key prefix of the HTTP families' totals (other families, e.g. TCP, add their own prefix). */
const HTTP = 'http';
const SLOTS = ENVOY_BUCKETS.length + 1; // the bounds, then +Inf

/**
 * v2 reports in src/state's generic form: one key per HTTP label set (all of Istio's labels, so a
 * restore goes through ISTIO_TAGS_TO_REMOVE as it is then), its values
 * [n, duration buckets..., duration sum, request-bytes buckets..., sum, response-bytes buckets..., sum].
 * A restore hands them back as one synthetic report through `apply` (IstioMetrics.applied).
 */
export function istioDurableTotals(apply: (report: ReportV2) => void): DurableTotals<ReportV2> {
  return {
    totalsOf(report) {
      return report.http.map((entry) => [
        JSON.stringify([HTTP, ...entry.d.map((i) => report.strings[i])]),
        [
          entry.n,
          ...entry.duration_ms,
          entry.duration_sum_ms,
          ...entry.request_bytes,
          entry.request_bytes_sum,
          ...entry.response_bytes,
          entry.response_bytes_sum,
        ],
      ]);
    },
    restore(totals) {
      apply(restoredReport(totals));
    },
  };
}

function restoredReport(totals: Totals): ReportV2 {
  const strings: string[] = [];
  const index = new Map<string, number>();
  const indexOf = (s: string) => {
    let i = index.get(s);
    if (i === undefined) index.set(s, (i = strings.push(s) - 1));
    return i;
  };
  const http: HttpEntry[] = [];
  for (const [key, v] of totals) {
    const [family, ...labels] = JSON.parse(key) as string[];
    if (family !== HTTP || labels.length !== ISTIO_LABELS.length) continue;
    if (v.length !== 1 + 3 * (SLOTS + 1)) continue; // another bucket layout: not ours to read
    const at = (k: number) => 1 + k * (SLOTS + 1);
    http.push({
      d: labels.map(indexOf),
      n: v[0],
      duration_ms: v.slice(at(0), at(0) + SLOTS),
      duration_sum_ms: v[at(0) + SLOTS],
      request_bytes: v.slice(at(1), at(1) + SLOTS),
      request_bytes_sum: v[at(1) + SLOTS],
      response_bytes: v.slice(at(2), at(2) + SLOTS),
      response_bytes_sum: v[at(2) + SLOTS],
    });
  }
  return {
    v: 2,
    reporter: { id: 'restored', seq: 0 },
    source: { workload: '', namespace: '', pod: '' },
    window: { start_ms: 0, end_ms: 0 },
    buckets: [...ENVOY_BUCKETS],
    strings,
    http,
  };
}
