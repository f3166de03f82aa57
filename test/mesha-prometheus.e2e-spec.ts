import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  startProcess,
  stopAllProcesses,
  waitForHttpOk,
  type RunningProcess,
} from './support/child-process';
import { startMesha, type MeshaProcess } from './support/mesha';
import { freePort } from './support/ports';
import { waitFor } from './support/wait-for';

interface QueryResult {
  status: string;
  data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> };
}

/** Prometheus (Debian's binary) scraping mesha every second, both on loopback. */
describe('mesha scraped by a real Prometheus', () => {
  let mesha: MeshaProcess;
  let prometheus: RunningProcess;
  let promUrl: string;
  let dir: string;

  beforeAll(async () => {
    mesha = await startMesha({ PARAM_LABELS: 'app' });
    dir = mkdtempSync(join(tmpdir(), 'mesha-prom-'));
    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    const config = join(dir, 'prometheus.yml');
    writeFileSync(
      config,
      [
        'global:',
        '  scrape_interval: 1s',
        '  evaluation_interval: 1s',
        'scrape_configs:',
        '  - job_name: mesha',
        '    static_configs:',
        `      - targets: ['127.0.0.1:${mesha.port}']`,
        '',
      ].join('\n'),
    );
    prometheus = startProcess('prometheus', [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ]);
    await waitForHttpOk(prometheus, `${promUrl}/-/ready`, 60_000);
  });

  afterAll(async () => {
    await prometheus?.stop();
    await mesha?.stop();
    await stopAllProcesses();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function query(expr: string): Promise<QueryResult['data']['result']> {
    const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = (await res.json()) as QueryResult;
    if (body.status !== 'success') throw new Error(`query ${expr} failed: ${JSON.stringify(body)}`);
    return body.data.result;
  }

  const valueOf = async (expr: string) => {
    const result = await query(expr);
    return result.length === 1 ? Number(result[0].value[1]) : undefined;
  };

  it('sees exactly the reports mesha accepted, and none it refused', async () => {
    const send = (msg: string | undefined, query = '') =>
      fetch(`${mesha.url}/wasmCallback${query}`, {
        method: 'POST',
        headers: msg === undefined ? {} : { melonMsg: msg },
        body: "i'm wasm from wasm filter !!!",
      }).then((r) => r.status);
    const statuses = await Promise.all([
      ...Array.from({ length: 7 }, () => send('prom-e2e', '?app=shop')),
      ...Array.from({ length: 3 }, () => send('other')),
      send(undefined),
      send(undefined),
    ]);
    expect(statuses.sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 400, 400]);

    await waitFor(
      'Prometheus to scrape the counts',
      async () =>
        (await valueOf('mesha_reports_total{msg="prom-e2e"}')) === 7 &&
        (await valueOf('mesha_reports_total{msg="other"}')) === 3 &&
        (await valueOf('mesha_rejected_reports_total{reason="missing_header"}')) === 2,
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    expect(await valueOf('sum(mesha_reports_total)')).toBe(10);
    expect(await valueOf('mesha_report_params_total{key="app",value="shop"}')).toBe(7);
    expect(await valueOf('mesha_report_body_bytes_count')).toBe(10);
    expect(await valueOf('up{job="mesha"}')).toBe(1);
    // Prometheus asks for OpenMetrics first: the scrape must have parsed without error.
    const targets = (await (await fetch(`${promUrl}/api/v1/targets`)).json()) as {
      data: { activeTargets: Array<{ health: string; lastError: string }> };
    };
    expect(targets.data.activeTargets.map((t) => [t.health, t.lastError])).toEqual([['up', '']]);
  });
});
