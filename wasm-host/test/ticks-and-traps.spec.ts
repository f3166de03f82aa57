import { LogLevel, Status } from '../src';
import { hostTracker, messages } from './support/hosts';
import { buildPlugin } from './support/wat';

const hosts = hostTracker();
afterEach(() => hosts.closeAll());
afterEach(() => jest.useRealTimers());

/** Arms a 1000 ms tick at start; each tick logs "tick N"; the third tick stops the timer. */
const tickingPlugin = () =>
  buildPlugin({
    data: [[1024, 'tick ']],
    body: `
      (global $ticks (mut i32) (i32.const 0))
      (func (export "proxy_on_vm_start") (param i32 i32) (result i32)
        (drop (call $proxy_set_tick_period_milliseconds (i32.const 1000))) (i32.const 1))
      (func (export "proxy_on_tick") (param i32)
        (global.set $ticks (i32.add (global.get $ticks) (i32.const 1)))
        (call $logNum (i32.const 1024) (i32.const 5) (global.get $ticks))
        (if (i32.eq (global.get $ticks) (i32.const 3))
          (then (drop (call $proxy_set_tick_period_milliseconds (i32.const 0))))))`,
  });

describe('ticks', () => {
  it('manual tick() runs proxy_on_tick on one VM or all', async () => {
    const host = await hosts.start({ wasm: await tickingPlugin() });
    expect(host.tickPeriodMs(0)).toBe(1000);
    expect(host.tickPeriodMs(1)).toBe(1000);
    await host.tick(1);
    expect(messages(host)).toEqual(['tick 1']);
    expect(host.logs[0].vm).toBe(1);
    await host.tick();
    expect(messages(host, 0)).toEqual(['tick 1']);
    expect(messages(host, 1)).toEqual(['tick 1', 'tick 2']);
  });

  it('autoTick: first tick one period later, re-armed after each tick, 0 stops, per VM', async () => {
    jest.useFakeTimers();
    const host = await hosts.start({ wasm: await tickingPlugin(), autoTick: true });
    jest.advanceTimersByTime(999);
    expect(messages(host)).toEqual([]);
    jest.advanceTimersByTime(1);
    expect(messages(host, 0)).toEqual(['tick 1']);
    expect(messages(host, 1)).toEqual(['tick 1']);
    jest.advanceTimersByTime(2000);
    expect(messages(host, 0)).toEqual(['tick 1', 'tick 2', 'tick 3']);
    expect(host.tickPeriodMs(0)).toBe(0);
    jest.advanceTimersByTime(10_000);
    expect(messages(host, 0)).toHaveLength(3);
    expect(messages(host, 1)).toHaveLength(3);
  });
});

describe('traps and bad pointers', () => {
  it('a trap in proxy_on_tick is logged with the callback name and never throws into the host', async () => {
    const wasm = await buildPlugin({
      body: `(func (export "proxy_on_tick") (param i32) unreachable)`,
    });
    const host = await hosts.start({ wasm });
    await expect(host.tick(0)).resolves.toBeUndefined();
    expect(host.isFailed(0)).toBe(true);
    expect(host.isFailed(1)).toBe(false);
    expect(
      host.hostLogs.some(
        (l) => l.vm === 0 && l.level === LogLevel.CRITICAL && l.message.includes('proxy_on_tick'),
      ),
    ).toBe(true);
    // A failed VM is not called again, like Envoy.
    await host.tick(0);
    expect(host.hostLogs.filter((l) => l.message.includes('proxy_on_tick'))).toHaveLength(1);
  });

  it('answers INVALID_MEMORY_ACCESS for pointers outside linear memory, for reads and out-params', async () => {
    const wasm = await buildPlugin({
      data: [[1024, 'plugin_root_id']],
      body: `
      (func (export "proxy_on_tick") (param i32)
        ;; message beyond memory
        (call $logStatus (call $proxy_log (i32.const 2) (i32.const 0x7ffffff0) (i32.const 64)))
        ;; huge length
        (call $logStatus (call $proxy_log (i32.const 2) (i32.const 1024) (i32.const -1)))
        ;; out-param beyond memory
        (call $logStatus (call $proxy_get_current_time_nanoseconds (i32.const 131068)))
        (call $logStatus (call $proxy_get_property (i32.const 1024) (i32.const 14) (i32.const -4) (i32.const 516)))
        (call $logStatus (call $proxy_get_buffer_status (i32.const 6) (i32.const 512) (i32.const 999999))))`,
    });
    const host = await hosts.start({ wasm, concurrency: 1, rootId: 'x' });
    await host.tick();
    const bad = `status=${Status.INVALID_MEMORY_ACCESS}`;
    expect(messages(host)).toEqual([bad, bad, bad, bad, bad]);
    expect(host.isFailed(0)).toBe(false);
  });

  it('logs at or above the configured level only, and rejects unknown levels', async () => {
    const wasm = await buildPlugin({
      data: [
        [1024, 'dbg'],
        [1030, 'err'],
      ],
      body: `
      (func (export "proxy_on_tick") (param i32)
        (drop (call $proxy_log (i32.const 1) (i32.const 1024) (i32.const 3)))
        (drop (call $proxy_log (i32.const 4) (i32.const 1030) (i32.const 3)))
        (call $logStatus (call $proxy_log (i32.const 9) (i32.const 1030) (i32.const 3))))`,
    });
    const seen: string[] = [];
    const host = await hosts.start({
      wasm,
      concurrency: 1,
      logLevel: LogLevel.INFO,
      onLog: (e) => seen.push(`${e.level}:${e.message}`),
    });
    await host.tick();
    expect(seen).toEqual(['4:err', `2:status=${Status.BAD_ARGUMENT}`]);
  });

  it('answers UNIMPLEMENTED for gRPC calls and logs it once', async () => {
    const wasm = await buildPlugin({
      body: `
      (func (export "proxy_on_tick") (param i32)
        (call $logStatus (call $proxy_grpc_call (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)
          (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 512))))`,
    });
    const host = await hosts.start({ wasm, concurrency: 1 });
    await host.tick();
    await host.tick();
    expect(messages(host)).toEqual(['status=12', 'status=12']);
    expect(host.hostLogs.filter((l) => l.message.includes('proxy_grpc_call'))).toHaveLength(1);
  });

  it('counts host calls', async () => {
    const host = await hosts.start({ wasm: await tickingPlugin(), concurrency: 1 });
    const before = host.hostCallCount();
    await host.tick();
    expect(host.hostCallCount() - before).toBe(1); // one proxy_log
  });
});

describe('clock and WASI', () => {
  it('proxy_get_current_time_nanoseconds uses the injected clock', async () => {
    const wasm = await buildPlugin({
      body: `
      (func (export "proxy_on_tick") (param i32)
        (drop (call $proxy_get_current_time_nanoseconds (i32.const 512)))
        (call $logU32At (i32.const 512)) (call $logU32At (i32.const 516)))`,
    });
    const host = await hosts.start({ wasm, concurrency: 1, now: () => (7n << 32n) + 123n });
    await host.tick();
    expect(messages(host)).toEqual(['u32=123', 'u32=7']);
  });

  for (const wasiModule of ['wasi_snapshot_preview1', 'wasi_unstable']) {
    it(`links ${wasiModule}: fd_write to 1/2 become log lines, proc_exit(0) in _start is fine`, async () => {
      const wasm = await buildPlugin({
        data: [
          [1024, 'hello out\n'],
          [1040, 'oops'],
          [1100, Buffer.from([0, 4, 0, 0, 10, 0, 0, 0, 16, 4, 0, 0, 4, 0, 0, 0])],
        ],
        extraImports: `
          (import "${wasiModule}" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
          (import "${wasiModule}" "proc_exit" (func $proc_exit (param i32)))
          (import "${wasiModule}" "random_get" (func $random_get (param i32 i32) (result i32)))
          (import "${wasiModule}" "environ_sizes_get" (func $environ_sizes_get (param i32 i32) (result i32)))
          (import "${wasiModule}" "path_open" (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))`,
        body: `
        (func (export "_start")
          (drop (call $fd_write (i32.const 1) (i32.const 1100) (i32.const 1) (i32.const 600)))
          (drop (call $fd_write (i32.const 2) (i32.const 1108) (i32.const 1) (i32.const 600)))
          (call $logStatus (call $random_get (i32.const 700) (i32.const 32)))
          (call $logStatus (call $environ_sizes_get (i32.const 512) (i32.const 516)))
          (call $logU32At (i32.const 512))
          (call $logStatus (call $path_open (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i64.const 0) (i64.const 0) (i32.const 0) (i32.const 512)))
          (call $proc_exit (i32.const 0))
          (call $logStr (i32.const 1024) (i32.const 5)))`,
      });
      const host = await hosts.start({ wasm, concurrency: 1 });
      expect(host.logs).toEqual([
        { vm: 0, level: LogLevel.INFO, message: 'hello out' },
        { vm: 0, level: LogLevel.ERROR, message: 'oops' },
        { vm: 0, level: LogLevel.INFO, message: 'status=0' },
        { vm: 0, level: LogLevel.INFO, message: 'status=0' },
        { vm: 0, level: LogLevel.INFO, message: 'u32=0' },
        { vm: 0, level: LogLevel.INFO, message: 'status=52' },
      ]);
    });
  }
});
