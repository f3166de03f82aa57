import { LogLevel, PluginLoadError, type LogEntry } from '../../../wasm-host/src';
import { startMesha, type MeshaProcess } from '../../../test/support/mesha';
import { scrape, sumSamples } from '../../../test/support/prometheus-text';
import { stopAllProcesses } from '../../../test/support/child-process';
import { waitFor } from '../../../test/support/wait-for';
import { SEED_CLUSTER, SEED_MESSAGE, reporterHosts } from './support';

const SEED_HEADERS: Array<[string, string]> = [
  [':method', 'POST'],
  [':authority', 'mesha.istio12.svc.cluster.local'],
  ['melonMsg', SEED_MESSAGE],
  [':path', '/wasmCallback'],
  ['accept', '*/*'],
];
const SEED_BODY = "i'm wasm from wasm filter !!!";

describe('reporter, heartbeat mode (the seed)', () => {
  let mesha: MeshaProcess;
  const hosts = reporterHosts();

  beforeAll(async () => {
    mesha = await startMesha();
  });
  afterEach(() => hosts.closeAll());
  afterAll(async () => {
    await mesha?.stop();
    await stopAllProcesses();
  });

  it.each([
    ['an empty configuration', ''],
    ['{}', '{}'],
  ])(
    'with %s sends the seed heartbeat byte for byte every 5 s, and mesha counts it',
    async (_, pluginConfig) => {
      const host = await hosts.start({
        pluginConfig,
        concurrency: 2,
        clusters: { [SEED_CLUSTER]: mesha.url },
      });
      const before = sumSamples(await scrape(mesha.url), 'mesha_reports_total', {
        msg: SEED_MESSAGE,
      });
      expect([host.tickPeriodMs(0), host.tickPeriodMs(1)]).toEqual([5000, 5000]);
      expect(host.httpCalls).toHaveLength(0);

      await host.tick(0);
      await host.settle();

      expect(host.httpCalls).toHaveLength(1);
      const call = host.httpCalls[0];
      expect(call.cluster).toBe(SEED_CLUSTER);
      expect(call.headers).toEqual(SEED_HEADERS);
      expect(call.body.toString('latin1')).toBe(SEED_BODY);
      expect(call.timeoutMs).toBe(5000);
      expect(call.status).toBe(0);
      expect(call.response?.status).toBe(200);
      expect(call.response?.body.toString()).toBe('receive wasm callback request status ok');
      expect(host.logs.filter((l) => l.vm === 0)).toEqual([
        { vm: 0, level: LogLevel.INFO, message: 'set tick period milliseconds: 5000' },
        {
          vm: 0,
          level: LogLevel.INFO,
          message: 'OnTick method is called before dispatchHttpCall ',
        },
        { vm: 0, level: LogLevel.INFO, message: 'OnTick method is called after dispatchHttpCall ' },
        { vm: 0, level: LogLevel.INFO, message: 'wasm callback...' },
      ]);

      await waitFor('mesha to count the heartbeat', async () => {
        const after = sumSamples(await scrape(mesha.url), 'mesha_reports_total', {
          msg: SEED_MESSAGE,
        });
        return after === before + 1;
      });
      // Log lines reach stdout in batches (at least every 200 ms).
      await waitFor('the report log line', () =>
        mesha
          .jsonLogs()
          .some((l) => l.event === 'report' && l.body === SEED_BODY && l.melonMsg === SEED_MESSAGE),
      );
      expect(host.metrics(0).get('mesha_reporter_reports_sent')).toBe(1);
    },
  );

  it('each VM ticks on its own; configured fields replace the seed values', async () => {
    const host = await hosts.start({
      pluginConfig: JSON.stringify({
        tick_ms: 250,
        timeout_ms: 1500,
        path: '/wasmCallback?from=vm',
        message: 'custom',
        headers: { 'x-extra': 'yes' },
        hash_authority: true, // traffic mode only: the heartbeat keeps the seed's authority
      }),
      concurrency: 2,
      clusters: { [SEED_CLUSTER]: mesha.url },
    });
    expect([host.tickPeriodMs(0), host.tickPeriodMs(1)]).toEqual([250, 250]);
    await host.tick();
    await host.settle();
    expect(host.httpCalls.map((c) => c.vm).sort()).toEqual([0, 1]);
    for (const call of host.httpCalls) {
      expect(call.headers).toEqual([
        [':method', 'POST'],
        [':authority', 'mesha.istio12.svc.cluster.local'],
        ['melonMsg', 'custom'],
        [':path', '/wasmCallback?from=vm'],
        ['accept', '*/*'],
        ['x-extra', 'yes'],
      ]);
      expect(call.timeoutMs).toBe(1500);
      expect(call.response?.status).toBe(200);
    }
  });

  it('logs a critical line when the dispatch is refused (unknown cluster) and keeps ticking', async () => {
    const host = await hosts.start({
      pluginConfig: '{"cluster":"no-such-cluster"}',
      concurrency: 1,
    });
    await host.tick(0);
    await host.tick(0);
    expect(host.httpCalls.map((c) => c.status)).toEqual([2, 2]);
    expect(host.logs.map((l) => [l.level, l.message]).slice(1, 4)).toEqual([
      [LogLevel.INFO, 'OnTick method is called before dispatchHttpCall '],
      [LogLevel.CRITICAL, 'dispatch httpcall failed: error status returned by host: bad argument'],
      [LogLevel.INFO, 'OnTick method is called after dispatchHttpCall '],
    ]);
    expect(host.isFailed(0)).toBe(false);
    expect(host.metrics(0).get('mesha_reporter_reports_failed')).toBe(2);
  });
});

describe('reporter configuration errors', () => {
  const hosts = reporterHosts();
  afterEach(() => hosts.closeAll());

  // One case per field and type of mistake: each must refuse the configuration (Envoy then rejects it)
  // with a CRITICAL log line naming the field.
  const cases: Array<[string, unknown, string]> = [
    ['not JSON', '{"mode": "traffic"', 'not valid JSON'],
    ['not an object', '[1, 2]', 'expected an object'],
    ['trailing text', '{} x', 'not valid JSON'],
    ['cluster: number', { cluster: 7171 }, "field 'cluster' must be a string"],
    ['cluster: empty', { cluster: '' }, "field 'cluster' must not be empty"],
    ['authority: null', { authority: null }, "field 'authority' must be a string"],
    ['path: no slash', { path: 'wasmCallback' }, "field 'path' must start with '/'"],
    ['message: boolean', { message: true }, "field 'message' must be a string"],
    [
      'message: CR LF',
      { message: 'a\r\nx-evil: 1' },
      "field 'message' must be at most 4096 characters",
    ],
    ['tick_ms: string', { tick_ms: '5000' }, "field 'tick_ms' must be an integer"],
    [
      'tick_ms: fraction',
      { tick_ms: 2.5 },
      "field 'tick_ms' must be an integer from 1 to 86400000",
    ],
    ['tick_ms: zero', { tick_ms: 0 }, "field 'tick_ms' must be an integer from 1 to 86400000"],
    ['timeout_ms: negative', { timeout_ms: -1 }, "field 'timeout_ms' must be an integer from 1"],
    ['timeout_ms: array', { timeout_ms: [5000] }, "field 'timeout_ms' must be an integer"],
    ['headers: array', { headers: ['a'] }, "field 'headers' must be an object of strings"],
    ['headers: number value', { headers: { 'x-a': 1 } }, "field 'headers.x-a' must be a string"],
    [
      'headers: pseudo-header',
      { headers: { ':path': '/x' } },
      "field 'headers.:path' is not a valid header name",
    ],
    [
      'headers: one the plugin sets',
      { headers: { MelonMsg: 'x' } },
      "field 'headers.MelonMsg' is set by the plugin",
    ],
    [
      'mode: unknown',
      { mode: 'metrics' },
      'field \'mode\' must be "heartbeat", "traffic" or "istio"',
    ],
    ['mode: object', { mode: {} }, "field 'mode' must be a string"],
    ['route_header: number', { route_header: 1 }, "field 'route_header' must be a string"],
    ['max_keys: zero', { max_keys: 0 }, "field 'max_keys' must be an integer from 1 to 10000"],
    [
      'max_keys: exponent too big',
      { max_keys: 1e9 },
      "field 'max_keys' must be an integer from 1 to 10000",
    ],
    ['max_pending: string', { max_pending: 'many' }, "field 'max_pending' must be an integer"],
    [
      'hash_authority: string',
      { hash_authority: 'true' },
      "field 'hash_authority' must be true or false",
    ],
    [
      'hash_authority: number',
      { hash_authority: 1 },
      "field 'hash_authority' must be true or false",
    ],
    [
      'hash_authority: null',
      { hash_authority: null },
      "field 'hash_authority' must be true or false",
    ],
    ['hash_authority: cut short', '{"hash_authority": fals', "field 'hash_authority' must be true"],
    ['hash_authority: longer word', '{"hash_authority": truex}', 'not valid JSON'],
    ['unknown field', { tickMs: 5000 }, "field 'tickMs' is not a known setting"],
  ];

  it.each(cases)('%s -> refused', async (_, config, expected) => {
    const logs: LogEntry[] = [];
    const pluginConfig = typeof config === 'string' ? config : JSON.stringify(config);
    const started = hosts.start({ pluginConfig, concurrency: 1, onLog: (e) => logs.push(e) });
    await expect(started).rejects.toThrow(PluginLoadError);
    await expect(started).rejects.toThrow('proxy_on_configure returned false');
    const critical = logs.filter((l) => l.level === LogLevel.CRITICAL).map((l) => l.message);
    expect(critical).toHaveLength(1);
    expect(critical[0]).toContain('mesha reporter: invalid configuration: ');
    expect(critical[0]).toContain(expected);
  });

  it('accepts every field with the right type (JSON escapes, exponents, repeated keys: last wins)', async () => {
    const host = await hosts.start({
      pluginConfig:
        '{"cluster":"c\\u0031", "authority":"a", "path":"/p", "tick_ms":1e3, "timeout_ms":2000.0, ' +
        '"message":"m\\"\\\\\\/\\t", "headers":{"x-a":"1","x-b":""}, "mode":"traffic", ' +
        '"route_header":"X-Track-Event", "max_keys":8, "max_pending":3, "tick_ms": 1500, ' +
        '"hash_authority": false, "hash_authority":true}',
      concurrency: 1,
    });
    expect(host.tickPeriodMs(0)).toBe(1500);
    expect(host.logs.filter((l) => l.level >= LogLevel.WARN)).toEqual([]);
  });
});
