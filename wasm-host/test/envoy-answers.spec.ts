import { encodePairs, Status } from '../src';
import { freePort } from '../../test/support/ports';
import { hostTracker, messages } from './support/hosts';
import { buildPlugin } from './support/wat';

const hosts = hostTracker();
afterEach(() => hosts.closeAll());

const CLUSTER = 'outbound|80||dead';

describe('header maps as Envoy answers them', () => {
  it('reads the maps of a failed http call as OK and empty; value and size are BAD_ARGUMENT', async () => {
    const headers = encodePairs([
      [':method', 'GET'],
      [':path', '/'],
      [':authority', 'dead'],
    ]);
    const wasm = await buildPlugin({
      data: [
        [1024, CLUSTER],
        [2048, headers],
        [900, ':status'],
      ],
      body: `
      (func (export "proxy_on_tick") (param $ctx i32)
        (drop (call $proxy_http_call (i32.const 1024) (i32.const ${CLUSTER.length})
          (i32.const 2048) (i32.const ${headers.length}) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)
          (i32.const 5000) (i32.const 512))))
      (func (export "proxy_on_http_call_response") (param $ctx i32) (param $token i32) (param $nh i32) (param $bs i32) (param $nt i32)
        (i32.store (i32.const 524) (i32.const 77))
        (call $logStatus (call $proxy_get_header_map_pairs (i32.const 6) (i32.const 520) (i32.const 524)))
        (call $logU32At (i32.const 524))
        (call $logStatus (call $proxy_get_header_map_pairs (i32.const 7) (i32.const 520) (i32.const 524)))
        (call $logStatus (call $proxy_get_header_map_value (i32.const 6) (i32.const 900) (i32.const 7) (i32.const 520) (i32.const 524)))
        (call $logStatus (call $proxy_get_header_map_size (i32.const 6) (i32.const 528))))`,
    });
    const host = await hosts.start({
      wasm,
      concurrency: 1,
      clusters: { [CLUSTER]: `http://127.0.0.1:${await freePort()}` },
    });
    await host.tick();
    await host.settle();
    expect(messages(host)).toEqual([
      `status=${Status.OK}`,
      'u32=0',
      `status=${Status.OK}`,
      `status=${Status.BAD_ARGUMENT}`,
      `status=${Status.BAD_ARGUMENT}`,
    ]);
  });

  it('lends each map only to its callbacks: request headers end when they continue; on_log reads, never writes', async () => {
    const wasm = await buildPlugin({
      data: [
        [1024, 'x-a'],
        [1040, 'v'],
        [1100, 'headers '],
        [1120, 'body '],
        [1140, 'resp '],
        [1160, 'log '],
      ],
      body: `
      (func $probe (param $map i32)
        (call $logStatus (call $proxy_get_header_map_value (local.get $map) (i32.const 1024) (i32.const 3) (i32.const 520) (i32.const 524)))
        (call $logStatus (call $proxy_add_header_map_value (local.get $map) (i32.const 1024) (i32.const 3) (i32.const 1040) (i32.const 1)))
        (call $logStatus (call $proxy_get_header_map_size (local.get $map) (i32.const 528))))
      (func (export "proxy_on_request_headers") (param $id i32) (param $n i32) (param $eos i32) (result i32)
        (call $logStr (i32.const 1100) (i32.const 7))
        (call $probe (i32.const 0))
        (i32.const 0))
      (func (export "proxy_on_request_body") (param $id i32) (param $size i32) (param $eos i32) (result i32)
        (call $logStr (i32.const 1120) (i32.const 4))
        (call $probe (i32.const 0))
        (i32.const 0))
      (func (export "proxy_on_response_headers") (param $id i32) (param $n i32) (param $eos i32) (result i32)
        (call $logStr (i32.const 1140) (i32.const 4))
        (call $probe (i32.const 0))
        (call $probe (i32.const 2))
        (i32.const 0))
      (func (export "proxy_on_log") (param $id i32)
        (call $logStr (i32.const 1160) (i32.const 3))
        (call $probe (i32.const 0))
        (call $probe (i32.const 2)))`,
    });
    const host = await hosts.start({ wasm, concurrency: 1 });
    const result = await host.runStream(
      { method: 'POST', path: '/', headers: [['x-a', '1']], body: 'b' },
      { status: 200, headers: [['x-a', '2']] },
    );
    expect(result.forwarded?.headers.filter(([k]) => k === 'x-a')).toEqual([
      ['x-a', '1'],
      ['x-a', 'v'],
    ]);
    const [OK, BAD] = [`status=${Status.OK}`, `status=${Status.BAD_ARGUMENT}`];
    expect(messages(host)).toEqual([
      'headers',
      ...[OK, OK, OK],
      'body',
      ...[BAD, BAD, BAD],
      'resp',
      ...[BAD, BAD, BAD],
      ...[OK, OK, OK],
      'log',
      ...[OK, BAD, BAD],
      ...[OK, BAD, BAD],
    ]);
  });

  it('shows content-length to the plugin both ways and re-frames a body the plugin changed', async () => {
    const wasm = await buildPlugin({
      data: [
        [1024, 'content-length'],
        [1100, '!!'],
      ],
      body: `
      (func $logLength (param $map i32)
        (if (i32.eqz (call $proxy_get_header_map_value (local.get $map) (i32.const 1024) (i32.const 14) (i32.const 520) (i32.const 524)))
          (then (call $logStr (i32.load (i32.const 520)) (i32.load (i32.const 524))))))
      (func (export "proxy_on_request_headers") (param $id i32) (param $n i32) (param $eos i32) (result i32)
        (call $logLength (i32.const 0)) (i32.const 0))
      (func (export "proxy_on_response_headers") (param $id i32) (param $n i32) (param $eos i32) (result i32)
        (call $logLength (i32.const 2)) (i32.const 0))
      (func (export "proxy_on_response_body") (param $id i32) (param $size i32) (param $eos i32) (result i32)
        (drop (call $proxy_set_buffer_bytes (i32.const 1) (local.get $size) (i32.const 0) (i32.const 1100) (i32.const 2)))
        (i32.const 0))`,
    });
    const host = await hosts.start({ wasm, concurrency: 1 });
    const result = await host.runStream(
      { method: 'POST', path: '/', body: 'four' },
      { status: 200, body: 'hello' },
    );
    expect(messages(host)).toEqual(['4', '5']);
    expect(result.body.toString()).toBe('hello!!');
    expect(result.headers).toContainEqual(['content-length', '7']);
  });
});

describe('ABI 0.1.0', () => {
  it('runs a 0.1.0 plugin: 2-argument header callbacks, get_configuration, continue_request, empty value for a missing key', async () => {
    const wasm = await buildPlugin({
      abi: '0_1_0',
      data: [
        [1024, 'x-missing'],
        [1100, 'cfg '],
        [1200, 'x-seen'],
      ],
      body: `
      (global $paused (mut i32) (i32.const 0))
      (func (export "proxy_on_configure") (param $root i32) (param $size i32) (result i32)
        (if (i32.eqz (call $proxy_get_configuration (i32.const 520) (i32.const 524)))
          (then (call $logStr (i32.load (i32.const 520)) (i32.load (i32.const 524)))))
        (i32.const 1))
      (func (export "proxy_on_request_headers") (param $id i32) (param $n i32) (result i32)
        (call $logStatus (call $proxy_get_header_map_value (i32.const 0) (i32.const 1024) (i32.const 9) (i32.const 520) (i32.const 524)))
        (call $logU32At (i32.const 524))
        (drop (call $proxy_add_header_map_value (i32.const 0) (i32.const 1200) (i32.const 6) (i32.const 1200) (i32.const 1)))
        (global.set $paused (local.get $id))
        (call $proxy_set_tick_period_milliseconds (i32.const 1000)) (drop)
        (i32.const 1))
      (func (export "proxy_on_tick") (param $root i32)
        (drop (call $proxy_set_effective_context (global.get $paused)))
        (drop (call $proxy_clear_route_cache))
        (call $logStatus (call $proxy_continue_request)))`,
    });
    const host = await hosts.start({ wasm, concurrency: 1, pluginConfig: 'old-plugin' });
    expect(host.abiVersion).toBe('0.1.0');
    const pending = host.runStream({ method: 'GET', path: '/' }, { status: 200, body: 'ok' });
    await new Promise((resolve) => setImmediate(resolve));
    await host.tick();
    const result = await pending;
    expect(result.status).toBe(200);
    expect(result.forwarded?.headers).toContainEqual(['x-seen', 'x']);
    expect(messages(host)).toEqual(['old-plugin', 'status=0', 'u32=0', 'status=0']);
  });

  it.each([
    ['proxy_continue_stream', '0_1_0', '(param i32) (result i32)'],
    ['proxy_get_configuration', '0_2_1', '(param i32 i32) (result i32)'],
    ['proxy_continue_request', '0_2_0', '(result i32)'],
  ] as const)(
    'refuses %s in an ABI %s module, as cpp-host registers it only for the other ABI',
    async (name, abi, sig) => {
      const wasm = await buildPlugin({
        abi,
        body: '',
        extraImports: `(import "env" "${name}" (func ${sig}))`,
      });
      await expect(hosts.start({ wasm })).rejects.toThrow(
        `Failed to load Wasm module due to a missing import: env.${name}`,
      );
    },
  );
});
