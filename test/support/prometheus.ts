import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startProcess, waitForHttpOk, type RunningProcess } from './child-process';
import { freePort } from './ports';

export interface PromSample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface PrometheusServer {
  url: string;
  process: RunningProcess;
  /** An instant query; throws with Prometheus' error when the query is refused. */
  query(expr: string): Promise<PromSample[]>;
  /** Values of `label` on the series matching `match` (what Grafana's label_values() asks). */
  labelValues(label: string, match: string): Promise<string[]>;
  stop(): Promise<void>;
}

interface ApiAnswer<T> {
  status: string;
  data: T;
  error?: string;
  errorType?: string;
}

async function api<T>(url: string): Promise<T> {
  const res = await fetch(url);
  const body = (await res.json()) as ApiAnswer<T>;
  if (body.status !== 'success') {
    throw new Error(`${url}: ${body.errorType ?? res.status}: ${body.error ?? 'failed'}`);
  }
  return body.data;
}

/**
 * Debian's Prometheus on a free loopback port, scraping `targets` (job "mesha") every second, with its data
 * in a temporary folder that stop() removes.
 */
export async function startPrometheus(targets: string[], job = 'mesha'): Promise<PrometheusServer> {
  const dir = mkdtempSync(join(tmpdir(), 'mesha-prom-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const config = join(dir, 'prometheus.yml');
  writeFileSync(
    config,
    [
      'global:',
      '  scrape_interval: 1s',
      '  evaluation_interval: 1s',
      'scrape_configs:',
      `  - job_name: ${job}`,
      '    static_configs:',
      `      - targets: [${targets.map((t) => `'${t}'`).join(', ')}]`,
      '',
    ].join('\n'),
  );
  const proc = startProcess('prometheus', [
    `--config.file=${config}`,
    `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
  ]);
  try {
    await waitForHttpOk(proc, `${url}/-/ready`, 60_000);
  } catch (err) {
    await proc.stop('SIGKILL', 0);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    url,
    process: proc,
    query: async (expr) =>
      (await api<{ result: PromSample[] }>(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`))
        .result,
    labelValues: (label, match) =>
      api<string[]>(
        `${url}/api/v1/label/${encodeURIComponent(label)}/values?match[]=${encodeURIComponent(match)}`,
      ),
    async stop() {
      await proc.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
