import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { REPO_ROOT } from './support/mesha';
import { ManualClock, startInProcessMesha, type InProcessMesha } from './support/mesha-app';
import { validReport } from './support/report-fixture';
import type { StatusSnapshot } from '../src/status/status.service';
import type { ReportV1 } from '../src/reports/report.types';

const HOSTILE = '<script>window.pwned=1</script><img src=x onerror="alert(1)">';

/** The status page and its JSON, in-process on a loopback port, with a clock driven by hand. */
describe('status page (GET / and GET /api/v1/status)', () => {
  const running: InProcessMesha[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((m) => m.close()));
  });

  async function start(env: Record<string, string> = {}, clock = new ManualClock()) {
    const mesha = await startInProcessMesha(env, clock);
    running.push(mesha);
    const post = async (body: ReportV1 | string, headers: Record<string, string> = {}) => {
      const res = await fetch(`${mesha.url}/wasmCallback`, {
        method: 'POST',
        headers: {
          'content-type': typeof body === 'string' ? 'text/plain' : 'application/json',
          melonMsg: 'my header from wasm envoy reporter',
          ...headers,
        },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
      await res.text();
      return res.status;
    };
    const status = async () => {
      const res = await fetch(`${mesha.url}/api/v1/status`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      return (await res.json()) as StatusSnapshot;
    };
    return { mesha, clock, post, status };
  }

  it('reports version, uptime, the filter.wasm served, an empty reporter list and zeroed rejections', async () => {
    const { clock, status } = await start();
    clock.advance(3_725_000);
    const s = await status();
    const pkg = JSON.parse(readFileSync(resolve(REPO_ROOT, 'package.json'), 'utf8')) as {
      version: string;
    };
    expect(s.version).toBe(pkg.version);
    expect(s.uptimeSeconds).toBe(3725);
    expect(Date.parse(s.now) - Date.parse(s.startedAt)).toBe(3_725_000);
    expect(s.reporters).toEqual({ live: 0, windowSeconds: 60, shown: [], truncated: false });
    expect(s.rejections.map((r) => r.reason)).toEqual(
      expect.arrayContaining(['missing_header', 'invalid_report', 'unauthorized']),
    );
    expect(s.rejections.every((r) => r.total === 0)).toBe(true);
    expect(s.duplicates).toBe(0);
    const wasm = readFileSync(resolve(REPO_ROOT, 'k8s/reporter/build/filter.wasm'));
    expect(s.filter).toEqual({
      served: true,
      route: '/filter.wasm',
      bytes: wasm.length,
      sha256: createHash('sha256').update(wasm).digest('hex'),
    });
    expect(s.series).toContainEqual({
      metric: 'mesha_observed_requests_total',
      series: 0,
      limit: 10000,
      dropped: 0,
    });
  });

  it('lists each reporter with workload, namespace, pod, last seen, last seq and duplicates', async () => {
    const { clock, post, status } = await start();
    const shop = validReport({ reporter: { id: 'aaaaaaaaaaaaaaaa', seq: 4 } });
    const cart = validReport({
      reporter: { id: 'bbbbbbbbbbbbbbbb', seq: 9 },
      source: { workload: 'cart', namespace: 'store', pod: 'cart-0' },
    });
    expect(await post(shop)).toBe(200);
    clock.advance(5_000);
    expect(await post(cart)).toBe(200);
    expect(await post(cart)).toBe(200); // a re-send: a duplicate
    expect(await post('no header', { melonMsg: '' })).toBe(400);
    clock.advance(10_000);
    const s = await status();
    expect(s.reporters.live).toBe(2);
    expect(s.reporters.shown).toEqual([
      {
        id: 'aaaaaaaaaaaaaaaa',
        workload: 'shop',
        namespace: 'default',
        pod: 'shop-7d9f-abcde',
        lastSeen: new Date(clock.now() - 15_000).toISOString(),
        lastSeenSecondsAgo: 15,
        lastSeq: 4,
        duplicates: 0,
      },
      {
        id: 'bbbbbbbbbbbbbbbb',
        workload: 'cart',
        namespace: 'store',
        pod: 'cart-0',
        lastSeen: new Date(clock.now() - 10_000).toISOString(),
        lastSeenSecondsAgo: 10,
        lastSeq: 9,
        duplicates: 1,
      },
    ]);
    expect(s.duplicates).toBe(1);
    expect(s.rejections).toContainEqual({ reason: 'missing_header', total: 1 });
    expect(s.series).toContainEqual({
      metric: 'mesha_observed_requests_total',
      series: 2,
      limit: 10000,
      dropped: 0,
    });
    // Past REPORTER_LIVE_SECONDS without a report, a reporter leaves the list.
    clock.advance(45_000);
    expect((await status()).reporters.shown.map((r) => r.id)).toEqual(['bbbbbbbbbbbbbbbb']);
  });

  it('counts series against MAX_SERIES, the overflow series and its dropped updates included', async () => {
    const { post, status } = await start({ MAX_SERIES: '2' });
    for (const msg of ['a', 'b', 'c', 'd']) expect(await post('x', { melonMsg: msg })).toBe(200);
    expect((await status()).series).toContainEqual({
      metric: 'mesha_reports_total',
      series: 3,
      limit: 2,
      dropped: 2,
    });
  });

  it('lists at most 200 reporters, the stalest first, and says how many are live', async () => {
    const { clock, post, status } = await start();
    for (let i = 0; i < 250; i++) {
      const id = i.toString(16).padStart(16, '0');
      expect(await post(validReport({ reporter: { id, seq: 1 } }))).toBe(200);
      clock.advance(10);
    }
    const s = await status();
    expect(s.reporters.live).toBe(250);
    expect(s.reporters.truncated).toBe(true);
    expect(s.reporters.shown).toHaveLength(200);
    expect(s.reporters.shown[0].id).toBe('0000000000000000');
  });

  it('renders the page as self-contained HTML, every value from the network escaped', async () => {
    const { mesha, post } = await start();
    const hostile = validReport({
      reporter: { id: 'cccccccccccccccc', seq: 1 },
      source: { workload: HOSTILE, namespace: 'ns"><b>x</b>', pod: "pod'&" },
    });
    expect(await post(hostile)).toBe(200);
    const res = await fetch(`${mesha.url}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('content-security-policy')).toMatch(/default-src 'none'/);
    expect(res.headers.get('content-security-policy')).not.toMatch(/script-src/);
    const page = await res.text();
    expect(page).toMatch(/<meta http-equiv="refresh" content="10"\s*\/?>/);
    expect(page).toContain(
      '&lt;script&gt;window.pwned=1&lt;/script&gt;&lt;img src=x onerror=&quot;alert(1)&quot;&gt;',
    );
    expect(page).toContain('ns&quot;&gt;&lt;b&gt;x&lt;/b&gt;');
    expect(page).toContain('pod&#39;&amp;');
    expect(page).not.toMatch(/<script|<img|<b>/i);
    // No external asset: nothing is loaded from another origin, and no stylesheet or script file at all.
    expect(page).not.toMatch(/(src|href)="(https?:)?\/\//i);
    expect(page).not.toMatch(/<link rel="stylesheet"/);
  });

  it('STATUS_PAGE=off removes both routes; FILTER_ROUTE=off shows the build as not served', async () => {
    const { mesha } = await start({ STATUS_PAGE: 'off' });
    for (const path of ['/', '/api/v1/status']) {
      const res = await fetch(`${mesha.url}${path}`);
      expect(res.status).toBe(404);
      expect(await res.json()).toMatchObject({ statusCode: 404, error: 'Not Found' });
    }
    const { status } = await start({ FILTER_ROUTE: 'off' });
    expect((await status()).filter).toEqual({
      served: false,
      route: 'off',
      reason: 'FILTER_ROUTE is off',
    });
  });

  it('stays open when AUTH_TOKEN is set, like /metrics (read-only; see README "Status page")', async () => {
    const { mesha } = await start({ AUTH_TOKEN: 'a-token-of-16-chars-or-more' });
    expect((await fetch(`${mesha.url}/api/v1/status`)).status).toBe(200);
    const page = await (await fetch(`${mesha.url}/`)).text();
    expect(page).not.toContain('a-token-of-16-chars-or-more');
  });
});
