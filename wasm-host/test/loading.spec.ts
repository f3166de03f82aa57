import { LogLevel, PluginLoadError, ProxyWasmHost, Status } from '../src';
import { buildPlugin, compileWat } from './support/wat';

const hosts: ProxyWasmHost[] = [];
async function start(options: Parameters<typeof ProxyWasmHost.start>[0]): Promise<ProxyWasmHost> {
  const host = await ProxyWasmHost.start(options);
  hosts.push(host);
  return host;
}
afterEach(async () => {
  await Promise.all(hosts.splice(0).map((h) => h.close()));
});

const messages = (host: ProxyWasmHost, vm?: number) =>
  host.logs.filter((l) => vm === undefined || l.vm === vm).map((l) => l.message);

describe('loading a module', () => {
  it('refuses a module without an ABI marker, as Envoy does', async () => {
    const wasm = await buildPlugin({ abi: 'none', body: '' });
    const err = await ProxyWasmHost.start({ wasm }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PluginLoadError);
    expect((err as Error).message).toBe('Missing or unknown Proxy-Wasm ABI version');
  });

  it('loads an ABI 0.1.0 module, as cpp-host still does', async () => {
    const wasm = await compileWat(
      '(module (memory (export "memory") 1) (func (export "malloc") (param i32) (result i32) i32.const 8) (func (export "proxy_abi_version_0_1_0")))',
    );
    const host = await ProxyWasmHost.start({ wasm });
    expect(host.abiVersion).toBe('0.1.0');
    await host.close();
  });

  it('names a host function the module imports but the host lacks', async () => {
    const wasm = await buildPlugin({
      body: '',
      extraImports: '(import "env" "proxy_teleport" (func (param i32) (result i32)))',
    });
    await expect(ProxyWasmHost.start({ wasm })).rejects.toThrow(
      'Failed to load Wasm module due to a missing import: env.proxy_teleport',
    );
  });

  it('names an unknown import from another module', async () => {
    const wasm = await buildPlugin({ body: '', extraImports: '(import "foo" "bar" (func))' });
    await expect(ProxyWasmHost.start({ wasm })).rejects.toThrow('missing import: foo.bar');
  });

  it('registers proxy_get_log_level only for ABI 0.2.1 (like cpp-host)', async () => {
    const body = `(func (export "proxy_on_vm_start") (param i32 i32) (result i32)
        (call $logStatus (call $proxy_get_log_level (i32.const 512))) (call $logU32At (i32.const 512)) (i32.const 1))`;
    await expect(
      ProxyWasmHost.start({ wasm: await buildPlugin({ body, abi: '0_2_0' }) }),
    ).rejects.toThrow('missing import: env.proxy_get_log_level');
    const host = await start({
      wasm: await buildPlugin({ body }),
      concurrency: 1,
      logLevel: LogLevel.DEBUG,
    });
    expect(messages(host)).toEqual(['status=0', 'u32=1']);
  });

  it('accepts ABI 0.2.0 and reports the version', async () => {
    const host = await start({ wasm: await buildPlugin({ body: '', abi: '0_2_0' }) });
    expect(host.abiVersion).toBe('0.2.0');
  });

  it('rejects bytes that are not Wasm and a missing file', async () => {
    await expect(ProxyWasmHost.start({ wasm: Buffer.from('nope') })).rejects.toThrow(
      PluginLoadError,
    );
    await expect(ProxyWasmHost.start({ wasm: '/nonexistent/plugin.wasm' })).rejects.toThrow(
      /cannot read Wasm module/,
    );
  });

  it('requires an allocator and prefers malloc over proxy_on_memory_allocate (Envoy order)', async () => {
    await expect(
      ProxyWasmHost.start({ wasm: await buildPlugin({ body: '', noMalloc: true }) }),
    ).rejects.toThrow(/missing malloc/);
    const body = `
      (global $viaPoma (mut i32) (i32.const 0))
      (func (export "proxy_on_memory_allocate") (param $n i32) (result i32)
        (global.set $viaPoma (i32.add (global.get $viaPoma) (i32.const 1)))
        (call $malloc (local.get $n)))
      (data (i32.const 1024) "plugin_root_id")
      (func (export "proxy_on_vm_start") (param i32 i32) (result i32)
        (drop (call $proxy_get_property (i32.const 1024) (i32.const 14) (i32.const 512) (i32.const 516)))
        (call $logNum (i32.const 200) (i32.const 7) (global.get $viaPoma))
        (i32.const 1))`;
    const viaMalloc = await start({
      wasm: await buildPlugin({ body }),
      rootId: 'r',
      concurrency: 1,
    });
    expect(messages(viaMalloc)).toEqual(['status=0']);
    const onlyPoma = await start({
      wasm: await buildPlugin({ body, noMalloc: true }),
      rootId: 'r',
      concurrency: 1,
    });
    expect(messages(onlyPoma)).toEqual(['status=1']);
  });

  it('starts like Envoy: _initialize then main, else _start', async () => {
    const reactor = `
      (data (i32.const 1024) "init") (data (i32.const 1028) "main") (data (i32.const 1032) "start")
      (func (export "_initialize") (call $logStr (i32.const 1024) (i32.const 4)))
      (func (export "main") (param i32 i32) (result i32) (call $logStr (i32.const 1028) (i32.const 4)) (i32.const 0))
      (func (export "_start") (call $logStr (i32.const 1032) (i32.const 5)))`;
    const a = await start({ wasm: await buildPlugin({ body: reactor }), concurrency: 1 });
    expect(messages(a)).toEqual(['init', 'main']);
    const command = `(data (i32.const 1032) "start") (func (export "_start") (call $logStr (i32.const 1032) (i32.const 5)))`;
    const b = await start({ wasm: await buildPlugin({ body: command }), concurrency: 1 });
    expect(messages(b)).toEqual(['start']);
  });

  it('runs the root lifecycle on every VM with context id 1 and the configurations readable', async () => {
    const body = `
      (data (i32.const 1024) "create ") (data (i32.const 1040) "vm_start ") (data (i32.const 1056) "configure ")
      (func (export "proxy_on_context_create") (param $id i32) (param $parent i32)
        (call $logNum (i32.const 1024) (i32.const 7) (local.get $id)))
      (func (export "proxy_on_vm_start") (param $id i32) (param $size i32) (result i32)
        (call $logNum (i32.const 1040) (i32.const 9) (local.get $size))
        (drop (call $proxy_get_buffer_bytes (i32.const 6) (i32.const 0) (local.get $size) (i32.const 512) (i32.const 516)))
        (call $logStr (i32.load (i32.const 512)) (i32.load (i32.const 516)))
        (i32.const 1))
      (func (export "proxy_on_configure") (param $id i32) (param $size i32) (result i32)
        (call $logNum (i32.const 1056) (i32.const 10) (local.get $size))
        (call $logStatus (call $proxy_get_buffer_bytes (i32.const 7) (i32.const 0) (local.get $size) (i32.const 512) (i32.const 516)))
        (call $logStr (i32.load (i32.const 512)) (i32.load (i32.const 516)))
        (i32.const 1))
      (func (export "proxy_on_tick") (param $id i32)
        (call $logStatus (call $proxy_get_buffer_bytes (i32.const 7) (i32.const 0) (i32.const 10) (i32.const 512) (i32.const 516))))`;
    const host = await start({
      wasm: await buildPlugin({ body }),
      vmConfig: 'vmcfg',
      pluginConfig: '{"a":1}',
    });
    expect(host.concurrency).toBe(2);
    for (const vm of [0, 1]) {
      expect(messages(host, vm)).toEqual([
        'create 1',
        'vm_start 5',
        'vmcfg',
        'configure 7',
        'status=0',
        '{"a":1}',
      ]);
    }
    await host.tick(0);
    // PLUGIN_CONFIGURATION is only readable during proxy_on_configure, as in Envoy.
    expect(messages(host, 0).at(-1)).toBe(`status=${Status.NOT_FOUND}`);
  });

  it('fails the load with a clear message when proxy_on_configure returns false', async () => {
    const body = `(func (export "proxy_on_configure") (param i32 i32) (result i32) (i32.const 0))`;
    await expect(ProxyWasmHost.start({ wasm: await buildPlugin({ body }) })).rejects.toThrow(
      'proxy_on_configure returned false on VM 0',
    );
  });

  it('fails the load when proxy_on_vm_start traps, naming the callback', async () => {
    const body = `(func (export "proxy_on_vm_start") (param i32 i32) (result i32) unreachable)`;
    await expect(ProxyWasmHost.start({ wasm: await buildPlugin({ body }) })).rejects.toThrow(
      'trapped in proxy_on_vm_start',
    );
  });
});
