import { encodePairs, Status } from '../src';
import { hostTracker, messages } from './support/hosts';
import { buildPlugin } from './support/wat';

const hosts = hostTracker();
afterEach(() => hosts.closeAll());

describe('root shutdown', () => {
  it('waits for proxy_done when proxy_on_done answers false, then calls proxy_on_delete', async () => {
    const wasm = await buildPlugin({
      data: [
        [1024, 'on_done'],
        [1040, 'on_delete'],
        [1060, 'queue'],
      ],
      body: `
      (global $q (mut i32) (i32.const 0))
      (func (export "proxy_on_vm_start") (param i32 i32) (result i32)
        (drop (call $proxy_register_shared_queue (i32.const 1060) (i32.const 5) (i32.const 512)))
        (global.set $q (i32.load (i32.const 512)))
        (i32.const 1))
      (func (export "proxy_on_done") (param $id i32) (result i32)
        (call $logStr (i32.const 1024) (i32.const 7))
        ;; finish later: the queue callback calls proxy_done
        (drop (call $proxy_enqueue_shared_queue (global.get $q) (i32.const 1060) (i32.const 1)))
        (i32.const 0))
      (func (export "proxy_on_queue_ready") (param i32 i32)
        (call $logStatus (call $proxy_done)))
      (func (export "proxy_on_delete") (param $id i32)
        (call $logStr (i32.const 1040) (i32.const 9)))`,
    });
    const host = await hosts.start({ wasm, concurrency: 1 });
    const started = Date.now();
    await host.close();
    expect(Date.now() - started).toBeLessThan(4000); // not the 5 s bound: proxy_done ended the wait
    expect(messages(host)).toEqual(['on_done', 'status=0', 'on_delete']);
  });
});

describe('header maps on a stream', () => {
  it('gets all pairs, replaces them, reports the byte size; strict parsing empties the map', async () => {
    const replacement = encodePairs([
      [':method', 'PUT'],
      [':path', '/new'],
      [':authority', 'a'],
      ['X-Set', 'v'],
    ]);
    const broken = Buffer.concat([encodePairs([['x', 'y']]), Buffer.from([1])]);
    const wasm = await buildPlugin({
      data: [
        [2048, replacement],
        [3072, broken],
        [1024, 'x-mode'],
      ],
      body: `
      (func (export "proxy_on_request_headers") (param $id i32) (param $n i32) (param $eos i32) (result i32)
        (call $logNum (i32.const 200) (i32.const 7) (local.get $n))
        (call $logStatus (call $proxy_get_header_map_pairs (i32.const 0) (i32.const 520) (i32.const 524)))
        (call $logU32At (i32.load (i32.const 520))) ;; pair count at the start of the serialized map
        (call $logStatus (call $proxy_get_header_map_size (i32.const 0) (i32.const 528)))
        (call $logU32At (i32.const 528))
        (if (i32.eqz (call $proxy_get_header_map_value (i32.const 0) (i32.const 1024) (i32.const 6) (i32.const 520) (i32.const 524)))
          (then (drop (call $proxy_set_header_map_pairs (i32.const 0) (i32.const 3072) (i32.const ${broken.length}))))
          (else (drop (call $proxy_set_header_map_pairs (i32.const 0) (i32.const 2048) (i32.const ${replacement.length})))))
        ;; response headers are not available yet: Envoy reads them as an empty map (OK, size 0)
        (call $logStatus (call $proxy_get_header_map_pairs (i32.const 2) (i32.const 520) (i32.const 524)))
        (call $logU32At (i32.const 524))
        (call $logStatus (call $proxy_get_header_map_value (i32.const 2) (i32.const 1024) (i32.const 6) (i32.const 520) (i32.const 524)))
        (i32.const 0))`,
    });
    const host = await hosts.start({ wasm, concurrency: 1 });
    const result = await host.runStream(
      { method: 'GET', path: '/p', authority: 'h', headers: [['a', 'bb']] },
      { status: 204 },
    );
    expect(result.forwarded?.headers).toEqual([
      [':method', 'PUT'],
      [':path', '/new'],
      [':authority', 'a'],
      ['x-set', 'v'],
    ]);
    // 5 pairs: :method GET, :path /p, :authority h, :scheme http, a bb -> 7+3 + 5+2 + 10+1 + 7+4 + 1+2
    expect(messages(host)).toEqual([
      'status=5',
      'status=0',
      'u32=5',
      'status=0',
      'u32=42',
      `status=${Status.OK}`,
      'u32=0',
      `status=${Status.BAD_ARGUMENT}`,
    ]);
    const broke = await host.runStream(
      { method: 'GET', path: '/p', headers: [['x-mode', '1']] },
      async (req) => ({ status: req.headers.length === 0 ? 200 : 500 }),
    );
    expect(broke.status).toBe(200);
  });
});
