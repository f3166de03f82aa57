import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ProxyWasmHost, type HostOptions, type HttpCallRecord } from '../../../wasm-host/src';
import { REPO_ROOT } from '../../../test/support/mesha';
import { checkReport } from '../../../src/reports/report-validator';
import type { ReportCount, ReportV1 as Report } from '../../../src/reports/report.types';

export type { Report, ReportCount };

export const WASM_PATH = resolve(REPO_ROOT, 'k8s', 'reporter', 'build', 'filter.wasm');
export const SEED_CLUSTER = 'outbound|7171||mesha.istio12.svc.cluster.local';
export const SEED_MESSAGE = 'my header from wasm envoy reporter';

/** The compiled plugin (`npm run build:wasm`, which `npm test` runs first). */
export function pluginBytes(): Uint8Array {
  if (!existsSync(WASM_PATH))
    throw new Error(`${WASM_PATH} is missing: run npm run build:wasm first`);
  return readFileSync(WASM_PATH);
}

/** Starts hosts running the reporter and closes every one of them in `closeAll` (call it in afterEach). */
export function reporterHosts(): {
  start(options: Omit<HostOptions, 'wasm'>): Promise<ProxyWasmHost>;
  closeAll(): Promise<void>;
} {
  const hosts: ProxyWasmHost[] = [];
  const wasm = pluginBytes();
  return {
    async start(options) {
      const host = await ProxyWasmHost.start({ wasm, ...options });
      hosts.push(host);
      return host;
    },
    async closeAll() {
      await Promise.all(hosts.splice(0).map((h) => h.close()));
    },
  };
}

/**
 * Parses a report body and checks it exactly as mesha does (src/reports/report-validator: the JSON Schema,
 * then the checks it cannot express); throws with mesha's description of the first problem.
 */
export function parseReport(body: Buffer): Report {
  const checked = checkReport(JSON.parse(body.toString('utf8')));
  if (!checked.ok) throw new Error(`mesha would reject this report: ${checked.problem}`);
  return checked.report;
}

/** The reports among the recorded http calls (dispatched ones only), parsed and validated. */
export function reportsOf(calls: HttpCallRecord[]): Report[] {
  return calls.filter((c) => c.status === 0).map((c) => parseReport(c.body));
}

/** Which counts to add up: any of the key fields, compared exactly. */
export type CountKey = Partial<Record<'method' | 'code' | 'route', string>>;

/** Sum of `n` over the counts matching `where`. */
export function countOf(reports: Report[], where: CountKey = {}): number {
  let total = 0;
  for (const r of reports) {
    for (const c of r.counts) {
      const match =
        (where.method === undefined || c.method === where.method) &&
        (where.code === undefined || c.code === where.code) &&
        (where.route === undefined || c.route === where.route);
      if (match) total += c.n;
    }
  }
  return total;
}

export function header(call: HttpCallRecord, name: string): string | undefined {
  return call.headers.find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1];
}
