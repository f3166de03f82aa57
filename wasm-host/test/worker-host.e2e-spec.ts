import type { StreamSink } from '../src';
import { WorkerHost } from '../src/workers/worker-host';
import { waitFor } from '../../test/support/wait-for';
import { buildPlugin } from './support/wat';

/** Request headers: x-op "set" stores shared data k=<x-value> and enqueues it on queue "q"; "get" logs k. */
function sharingPlugin(): Promise<Uint8Array> {
  return buildPlugin({
    data: [
      [1024, 'x-op'],
      [1040, 'k'],
      [1050, 'q'],
      [1060, 'x-value'],
      [1080, 'got '],
    ],
    body: `
      (global $queue (mut i32) (i32.const 0))
      (func (export "proxy_on_vm_start") (param i32 i32) (result i32)
        (drop (call $proxy_register_shared_queue (i32.const 1050) (i32.const 1) (i32.const 512)))
        (global.set $queue (i32.load (i32.const 512)))
        (i32.const 1))
      (func (export "proxy_on_request_headers") (param $id i32) (param $n i32) (param $eos i32) (result i32)
        (if (i32.eqz (call $proxy_get_header_map_value (i32.const 0) (i32.const 1024) (i32.const 4) (i32.const 520) (i32.const 524)))
          (then
            (if (i32.eq (i32.load8_u (i32.load (i32.const 520))) (i32.const 115)) ;; set
              (then
                (drop (call $proxy_get_header_map_value (i32.const 0) (i32.const 1060) (i32.const 7) (i32.const 528) (i32.const 532)))
                (call $logStatus (call $proxy_set_shared_data (i32.const 1040) (i32.const 1)
                  (i32.load (i32.const 528)) (i32.load (i32.const 532)) (i32.const 0)))
                (call $logStatus (call $proxy_enqueue_shared_queue (global.get $queue)
                  (i32.load (i32.const 528)) (i32.load (i32.const 532)))))
              (else
                (call $logStatus (call $proxy_get_shared_data (i32.const 1040) (i32.const 1) (i32.const 528) (i32.const 532) (i32.const 536)))
                (call $logStr (i32.load (i32.const 528)) (i32.load (i32.const 532)))))))
        (i32.const 0))
      (func (export "proxy_on_queue_ready") (param $root i32) (param $queue i32)
        (if (i32.eqz (call $proxy_dequeue_shared_queue (local.get $queue) (i32.const 528) (i32.const 532)))
          (then
            (memory.copy (i32.const 2048) (i32.const 1080) (i32.const 4))
            (memory.copy (i32.const 2052) (i32.load (i32.const 528)) (i32.load (i32.const 532)))
            (call $logStr (i32.const 2048) (i32.add (i32.const 4) (i32.load (i32.const 532)))))))`,
  });
}

const sink = (): StreamSink => ({
  upstreamHeaders: () => undefined,
  upstreamData: () => undefined,
  upstreamTrailers: () => undefined,
  upstreamCancel: () => undefined,
  downstreamHeaders: () => undefined,
  downstreamData: () => undefined,
  downstreamTrailers: () => undefined,
  downstreamReset: () => undefined,
});

describe('WorkerHost (a thread per VM, opt-in for the library)', () => {
  it('shares data and queues across VM threads, as Envoy does across workers', async () => {
    const logs: Array<{ vm: number; message: string }> = [];
    const host = await WorkerHost.start({
      wasm: await sharingPlugin(),
      concurrency: 2,
      onLog: (e) => logs.push({ vm: e.vm, message: e.message }),
    });
    try {
      const headers = (op: string): Array<[string, string]> => [
        [':method', 'GET'],
        [':path', '/'],
        [':authority', 'a'],
        ['x-op', op],
        ['x-value', 'from-vm-0'],
      ];
      const first = host.openStream(sink(), { vm: 0 });
      first.requestHeaders(headers('set'), true);
      await waitFor('VM 0 to store the value', () => logs.filter((l) => l.vm === 0).length >= 2);
      const second = host.openStream(sink(), { vm: 1 });
      second.requestHeaders(headers('get'), true);
      await waitFor('VM 1 to read it', () =>
        logs.some((l) => l.vm === 1 && l.message === 'from-vm-0'),
      );
      expect(logs.filter((l) => l.message.startsWith('status='))).toEqual([
        { vm: 0, message: 'status=0' },
        { vm: 0, message: 'status=0' },
        { vm: 1, message: 'status=0' },
      ]);
      // The queue's registrant (one of the VMs) was told and dequeued the item once.
      await waitFor('proxy_on_queue_ready', () => logs.some((l) => l.message === 'got from-vm-0'));
      expect(logs.filter((l) => l.message === 'got from-vm-0')).toHaveLength(1);
      first.downstreamClosed();
      second.downstreamClosed();
    } finally {
      await host.close();
    }
  });
});
