import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import { ProxyWasmHost, type HostOptions, type HttpCallRecord } from '../../../wasm-host/src';
import { REPO_ROOT } from '../../../test/support/mesha';

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

/** One entry of a v1 report's `counts`. */
export interface ReportCount {
  method: string;
  code: string;
  route: string;
  n: number;
  duration_buckets: number[];
  duration_sum_ms: number;
  bytes_in: number;
  bytes_out: number;
}

export interface Report {
  v: 1;
  reporter: { id: string; seq: number };
  source: { workload: string; namespace: string; pod: string };
  window: { start_ms: number; end_ms: number };
  buckets_ms: number[];
  counts: ReportCount[];
}

const schema: unknown = JSON.parse(
  readFileSync(resolve(REPO_ROOT, 'src', 'reports', 'report-v1.schema.json'), 'utf8'),
);
const validateReport = new Ajv2020({ allErrors: true }).compile<Report>(schema as object);

/** Parses a report body and checks it against src/reports/report-v1.schema.json; throws with ajv's errors. */
export function parseReport(body: Buffer): Report {
  const value: unknown = JSON.parse(body.toString('utf8'));
  if (!validateReport(value)) {
    throw new Error(`report does not match the schema: ${JSON.stringify(validateReport.errors)}`);
  }
  return value;
}

/** The reports among the recorded http calls (dispatched ones only), parsed and validated. */
export function reportsOf(calls: HttpCallRecord[]): Report[] {
  return calls.filter((c) => c.status === 0).map((c) => parseReport(c.body));
}

/** Sum of `n` over the counts matching `where`. */
export function countOf(reports: Report[], where: Partial<ReportCount> = {}): number {
  let total = 0;
  for (const r of reports) {
    for (const c of r.counts) {
      const match = Object.entries(where).every(
        ([k, v]) => (c as unknown as Record<string, unknown>)[k] === v,
      );
      if (match) total += c.n;
    }
  }
  return total;
}

export function header(call: HttpCallRecord, name: string): string | undefined {
  return call.headers.find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1];
}
