import { stopAllProcesses } from './support/child-process';
import { startMesha, type MeshaProcess } from './support/mesha';
import { startPrometheus, type PrometheusServer } from './support/prometheus';
import { waitFor } from './support/wait-for';

/** Prometheus (Debian's binary) scraping mesha every second, both on loopback. */
describe('mesha scraped by a real Prometheus', () => {
  let mesha: MeshaProcess;
  let prometheus: PrometheusServer;

  beforeAll(async () => {
    mesha = await startMesha({ PARAM_LABELS: 'app' });
    prometheus = await startPrometheus([`127.0.0.1:${mesha.port}`]);
  });

  afterAll(async () => {
    await prometheus?.stop();
    await mesha?.stop();
    await stopAllProcesses();
  });

  const valueOf = async (expr: string) => {
    const result = await prometheus.query(expr);
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
    const targets = (await (await fetch(`${prometheus.url}/api/v1/targets`)).json()) as {
      data: { activeTargets: Array<{ health: string; lastError: string }> };
    };
    expect(targets.data.activeTargets.map((t) => [t.health, t.lastError])).toEqual([['up', '']]);
  });
});
