import { mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { startSidecarCli } from '../wasm-host/test/support/sidecar-cli';
import { stopAllProcesses, type RunningProcess } from './support/child-process';
import { REPO_ROOT, startMesha, type MeshaProcess } from './support/mesha';
import { validReport } from './support/report-fixture';
import { waitFor } from './support/wait-for';
import type { StatusSnapshot } from '../src/status/status.service';

/** Debian's chromium (apt-get install chromium; .ci/run installs it): playwright-core downloads nothing. */
const CHROMIUM = '/usr/bin/chromium';
const WASM = resolve(REPO_ROOT, 'k8s/reporter/build/filter.wasm');
const CLUSTER = 'outbound|7171||mesha.istio12.svc.cluster.local';
export const TEST_OUTPUT = resolve(REPO_ROOT, 'test-output');
const HOSTILE_WORKLOAD =
  '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned=2">';

/**
 * The status page in real headless Chromium, against the built mesha fed by the built reporter running in the
 * local sidecar (traffic mode), plus a hostile report posted by hand.
 */
describe('status page in a real browser', () => {
  let mesha: MeshaProcess;
  let sidecar: RunningProcess;
  let upstream: Server;
  let browser: Browser;

  beforeAll(async () => {
    mesha = await startMesha();
    upstream = createServer((req, res) => {
      req.resume();
      res.writeHead(req.url === '/boom' ? 503 : 200, { 'content-type': 'text/plain' }).end('ok');
    });
    await new Promise<void>((ok) => upstream.listen(0, '127.0.0.1', ok));
    const started = await startSidecarCli([
      ...['--wasm', WASM, '--config', JSON.stringify({ mode: 'traffic', tick_ms: 500 })],
      ...['--cluster', `${CLUSTER}=${mesha.url}`],
      ...['--upstream', `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`],
      ...['--node-metadata', 'WORKLOAD_NAME=status-shop', '--node-metadata', 'NAMESPACE=shop'],
      ...['--node-metadata', 'NAME=status-shop-6b7c-x1y2z'],
    ]);
    sidecar = started.proc;
    for (const path of ['/api/items', '/cart', '/boom'])
      await (await fetch(started.url + path)).text();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      // Root in a container: Chromium's sandbox needs user namespaces this machine may not give.
      args: ['--no-sandbox'],
    });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await sidecar?.stop();
    await mesha?.stop();
    await new Promise<void>((ok) => (upstream ? upstream.close(() => ok()) : ok()));
    await stopAllProcesses();
  });

  it('shows the reporter that just reported with its workload, a hostile workload as text, no console error', async () => {
    const reporter = await waitFor(
      'mesha to list the sidecar reporter',
      async () => {
        const status = (await (await fetch(`${mesha.url}/api/v1/status`)).json()) as StatusSnapshot;
        return status.reporters.shown.find((r) => r.workload === 'status-shop');
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(reporter).toMatchObject({ namespace: 'shop', pod: 'status-shop-6b7c-x1y2z' });
    const hostile = await fetch(`${mesha.url}/wasmCallback`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', melonMsg: 'hostile' },
      body: JSON.stringify(
        validReport({
          reporter: { id: 'dddddddddddddddd', seq: 1 },
          source: { workload: HOSTILE_WORKLOAD, namespace: 'evil', pod: '"><svg onload=alert(1)>' },
        }),
      ),
    });
    expect(hostile.status).toBe(200);

    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const problems: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning') {
        problems.push(`${message.type()}: ${message.text()}`);
      }
    });
    page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
    page.on('requestfailed', (request) => problems.push(`request failed: ${request.url()}`));
    const requested: string[] = [];
    page.on('request', (request) => requested.push(request.url()));

    const response = await page.goto(`${mesha.url}/`, { waitUntil: 'load' });
    expect(response?.status()).toBe(200);
    expect(await page.title()).toBe('mesha status');
    const row = page.locator(`tr[data-reporter="${reporter.id}"]`);
    await expect(row.locator('td').nth(1).textContent()).resolves.toBe('status-shop');
    expect(await row.locator('td').nth(2).textContent()).toBe('shop');

    const hostileRow = page.locator('tr[data-reporter="dddddddddddddddd"]');
    expect(await hostileRow.locator('td').nth(1).textContent()).toBe(HOSTILE_WORKLOAD);
    expect(await hostileRow.locator('td').nth(3).textContent()).toBe('"><svg onload=alert(1)>');
    expect(await page.locator('script, img, svg').count()).toBe(0);
    expect(await page.evaluate('typeof window.__pwned')).toBe('undefined');

    expect(await page.locator('#filter').textContent()).toMatch(/[0-9a-f]{64}/);
    expect(await page.locator('#series').textContent()).toContain('mesha_observed_requests_total');
    // Works offline: the page itself is the only request (the favicon is a data: URL).
    expect(requested).toEqual([`${mesha.url}/`]);
    expect(problems).toEqual([]);

    mkdirSync(TEST_OUTPUT, { recursive: true });
    await page.screenshot({ path: resolve(TEST_OUTPUT, 'status-page.png'), fullPage: true });
    await page.close();
  });

  it('refreshes itself: a reporter seen after the page loaded appears without a click', async () => {
    const page = await browser.newPage();
    await page.goto(`${mesha.url}/`, { waitUntil: 'load' });
    expect(await page.locator('tr[data-reporter="eeeeeeeeeeeeeeee"]').count()).toBe(0);
    const late = await fetch(`${mesha.url}/wasmCallback`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', melonMsg: 'late' },
      body: JSON.stringify(
        validReport({
          reporter: { id: 'eeeeeeeeeeeeeeee', seq: 1 },
          source: { workload: 'late-comer', namespace: 'shop', pod: 'late-0' },
        }),
      ),
    });
    expect(late.status).toBe(200);
    // The page reloads every 10 s (meta refresh); allow a few periods on a busy machine.
    await page
      .locator('tr[data-reporter="eeeeeeeeeeeeeeee"]')
      .waitFor({ state: 'attached', timeout: 45_000 });
    await page.close();
  }, 90_000);
});
