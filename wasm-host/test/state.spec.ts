import { Status } from '../src';
import { hostTracker, messages } from './support/hosts';
import { buildPlugin } from './support/wat';

const hosts = hostTracker();
afterEach(() => hosts.closeAll());

describe('metrics', () => {
  it('defines, increments, records and reads counters, gauges and histograms per VM', async () => {
    const wasm = await buildPlugin({
      data: [
        [1024, 'requests_total'],
        [1040, 'in_flight'],
        [1056, 'latency_ms'],
      ],
      body: `
      (global $c (mut i32) (i32.const 0)) (global $g (mut i32) (i32.const 0)) (global $h (mut i32) (i32.const 0))
      (func (export "proxy_on_vm_start") (param i32 i32) (result i32)
        (drop (call $proxy_define_metric (i32.const 0) (i32.const 1024) (i32.const 14) (i32.const 512)))
        (global.set $c (i32.load (i32.const 512)))
        (drop (call $proxy_define_metric (i32.const 1) (i32.const 1040) (i32.const 9) (i32.const 512)))
        (global.set $g (i32.load (i32.const 512)))
        (drop (call $proxy_define_metric (i32.const 2) (i32.const 1056) (i32.const 10) (i32.const 512)))
        (global.set $h (i32.load (i32.const 512)))
        (call $logStatus (call $proxy_define_metric (i32.const 3) (i32.const 1056) (i32.const 10) (i32.const 512)))
        (i32.const 1))
      (func (export "proxy_on_tick") (param i32)
        (drop (call $proxy_increment_metric (global.get $c) (i64.const 2)))
        (call $logStatus (call $proxy_increment_metric (global.get $c) (i64.const -1)))
        (drop (call $proxy_record_metric (global.get $g) (i64.const 7)))
        (drop (call $proxy_increment_metric (global.get $g) (i64.const -2)))
        (drop (call $proxy_record_metric (global.get $h) (i64.const 30)))
        (call $logStatus (call $proxy_get_metric (global.get $h) (i32.const 512)))
        (call $logStatus (call $proxy_increment_metric (i32.const 9999) (i64.const 1)))
        (call $logStatus (call $proxy_get_metric (global.get $c) (i32.const 512)))
        (call $logU32At (i32.const 512)))`,
    });
    const host = await hosts.start({ wasm });
    expect(messages(host)).toEqual([
      `status=${Status.BAD_ARGUMENT}`,
      `status=${Status.BAD_ARGUMENT}`,
    ]);
    await host.tick(0);
    await host.tick(0);
    await host.tick(1);
    expect(host.metrics(0).get('requests_total')).toBe(4);
    expect(host.metrics(1).get('requests_total')).toBe(2);
    expect(host.metrics().get('requests_total')).toBe(6);
    expect(host.metrics(0).get('in_flight')).toBe(5);
    expect(host.metrics(0).get('latency_ms')).toBe(2); // histogram: sample count
    const vm1 = messages(host, 1).slice(1);
    // counter with a negative offset, histogram read, unknown id; then the counter as all workers see it
    expect(vm1).toEqual([
      `status=${Status.BAD_ARGUMENT}`,
      `status=${Status.BAD_ARGUMENT}`,
      `status=${Status.NOT_FOUND}`,
      'status=0',
      'u32=6',
    ]);
  });
});

describe('properties', () => {
  it('answers node metadata, plugin names, NOT_FOUND for the rest; ints as 8-byte LE; set/get round trip', async () => {
    const paths = [
      'node\0metadata\0WORKLOAD_NAME',
      'node\0metadata\0NAMESPACE',
      'plugin_name',
      'plugin_root_id',
      'plugin_vm_id',
      'node.metadata.NAMESPACE',
      'request\0path',
      'node\0metadata\0MISSING',
      'custom\0key',
    ];
    let offset = 1024;
    const layout = paths.map((p) => {
      const at = offset;
      offset += 64;
      return { at, p };
    });
    const gets = layout
      .map(
        ({ at, p }) => `
        (if (i32.eqz (call $proxy_get_property (i32.const ${at}) (i32.const ${Buffer.byteLength(p)}) (i32.const 520) (i32.const 524)))
          (then (call $logStr (i32.load (i32.const 520)) (i32.load (i32.const 524))))
          (else (call $logStr (i32.const 1900) (i32.const 9))))`,
      )
      .join('\n');
    const custom = layout.at(-1)!;
    const wasm = await buildPlugin({
      data: [
        ...layout.map(({ at, p }) => [at, p] as [number, string]),
        [1900, 'NOT_FOUND'],
        [1920, 'v1'],
      ],
      body: `
      (func (export "proxy_on_tick") (param i32)
        ${gets}
        (call $logStatus (call $proxy_set_property (i32.const ${custom.at}) (i32.const ${Buffer.byteLength(custom.p)}) (i32.const 1920) (i32.const 2)))
        (if (i32.eqz (call $proxy_get_property (i32.const ${custom.at}) (i32.const ${Buffer.byteLength(custom.p)}) (i32.const 520) (i32.const 524)))
          (then (call $logStr (i32.load (i32.const 520)) (i32.load (i32.const 524))))))`,
    });
    const host = await hosts.start({
      wasm,
      concurrency: 1,
      nodeMetadata: { WORKLOAD_NAME: 'productpage-v1', NAMESPACE: 'bookinfo' },
      pluginName: 'mesha-reporter',
      rootId: 'reporter',
      vmId: 'vm-a',
    });
    await host.tick();
    expect(messages(host)).toEqual([
      'productpage-v1',
      'bookinfo',
      'mesha-reporter',
      'reporter',
      'vm-a',
      'NOT_FOUND', // dots do not split paths
      'NOT_FOUND', // request.* only on HTTP streams
      'NOT_FOUND',
      'NOT_FOUND',
      'status=0',
      'v1',
    ]);
  });
});

describe('shared data and queues', () => {
  it('shares data across VMs with CAS', async () => {
    const wasm = await buildPlugin({
      data: [
        [1024, 'key'],
        [1030, 'aaa'],
        [1040, 'bbb'],
      ],
      body: `
      (func (export "proxy_on_tick") (param i32) (local $cas i32)
        (if (i32.eqz (call $proxy_get_shared_data (i32.const 1024) (i32.const 3) (i32.const 520) (i32.const 524) (i32.const 528)))
          (then
            (call $logStr (i32.load (i32.const 520)) (i32.load (i32.const 524)))
            (local.set $cas (i32.load (i32.const 528)))
            ;; stale CAS fails, current CAS wins
            (call $logStatus (call $proxy_set_shared_data (i32.const 1024) (i32.const 3) (i32.const 1040) (i32.const 3) (i32.add (local.get $cas) (i32.const 100))))
            (call $logStatus (call $proxy_set_shared_data (i32.const 1024) (i32.const 3) (i32.const 1040) (i32.const 3) (local.get $cas))))
          (else
            (call $logStatus (call $proxy_set_shared_data (i32.const 1024) (i32.const 3) (i32.const 1030) (i32.const 3) (i32.const 0))))))`,
    });
    const host = await hosts.start({ wasm });
    await host.tick(0);
    await host.tick(1);
    await host.tick(0);
    expect(messages(host, 0)).toEqual([
      'status=0',
      'bbb',
      `status=${Status.CAS_MISMATCH}`,
      'status=0',
    ]);
    expect(messages(host, 1)).toEqual(['aaa', `status=${Status.CAS_MISMATCH}`, 'status=0']);
  });

  it('delivers enqueued items to the registering context with proxy_on_queue_ready', async () => {
    const wasm = await buildPlugin({
      data: [
        [1024, 'q1'],
        [1030, 'item'],
        [1040, 'ready '],
        [1050, 'vm'],
      ],
      body: `
      (global $q (mut i32) (i32.const 0))
      (func (export "proxy_on_vm_start") (param i32 i32) (result i32)
        (drop (call $proxy_register_shared_queue (i32.const 1024) (i32.const 2) (i32.const 512)))
        (global.set $q (i32.load (i32.const 512)))
        (i32.const 1))
      (func (export "proxy_on_tick") (param i32)
        (call $logStatus (call $proxy_resolve_shared_queue (i32.const 1050) (i32.const 2) (i32.const 1024) (i32.const 2) (i32.const 512)))
        (call $logStatus (call $proxy_resolve_shared_queue (i32.const 1050) (i32.const 2) (i32.const 1030) (i32.const 2) (i32.const 512)))
        (call $logStatus (call $proxy_enqueue_shared_queue (global.get $q) (i32.const 1030) (i32.const 4))))
      (func (export "proxy_on_queue_ready") (param $ctx i32) (param $id i32)
        (call $logNum (i32.const 1040) (i32.const 6) (local.get $ctx))
        (call $logStatus (call $proxy_dequeue_shared_queue (local.get $id) (i32.const 520) (i32.const 524)))
        (call $logStr (i32.load (i32.const 520)) (i32.load (i32.const 524)))
        (call $logStatus (call $proxy_dequeue_shared_queue (local.get $id) (i32.const 520) (i32.const 524))))`,
    });
    const host = await hosts.start({ wasm, vmId: 'vm', concurrency: 1 });
    await host.tick();
    await new Promise((resolve) => setImmediate(resolve));
    expect(messages(host)).toEqual([
      'status=0',
      `status=${Status.NOT_FOUND}`,
      'status=0',
      'ready 1',
      'status=0',
      'item',
      `status=${Status.EMPTY}`,
    ]);
  });
});
