import { buildPlugin } from './wat';

/**
 * A WAT network filter: holds downstream bytes (StopIteration) until they end in "\n", then prepends ">"
 * and lets them through; a line starting with "quit" closes the downstream (proxy_close_stream). Logs
 * "new <id>", "down <data_size>", "eos <0|1>", "up <data_size>", "dclose <peer>", "uclose <peer>",
 * "done <id>", "log <id>", "delete <id>", and the source.address property on a new connection.
 */
export function tcpPlugin(): Promise<Uint8Array> {
  return buildPlugin({
    data: [
      [1024, 'new '],
      [1030, 'down '],
      [1040, 'up '],
      [1050, 'eos '],
      [1060, 'dclose '],
      [1070, 'uclose '],
      [1080, 'done '],
      [1090, 'log '],
      [1100, 'delete '],
      [1110, '>'],
      [1120, 'source\0address'],
      [1140, 'connections'],
    ],
    body: `
      (global $connections (mut i32) (i32.const 0))
      (func (export "proxy_on_vm_start") (param i32 i32) (result i32)
        (drop (call $proxy_define_metric (i32.const 0) (i32.const 1140) (i32.const 11) (i32.const 512)))
        (global.set $connections (i32.load (i32.const 512)))
        (i32.const 1))
      (func (export "proxy_on_new_connection") (param $id i32) (result i32)
        (drop (call $proxy_increment_metric (global.get $connections) (i64.const 1)))
        (call $logNum (i32.const 1024) (i32.const 4) (local.get $id))
        (if (i32.eqz (call $proxy_get_property (i32.const 1120) (i32.const 14) (i32.const 520) (i32.const 524)))
          (then (call $logStr (i32.load (i32.const 520)) (i32.load (i32.const 524)))))
        (i32.const 0))
      (func (export "proxy_on_downstream_data") (param $id i32) (param $size i32) (param $eos i32) (result i32) (local $p i32)
        (call $logNum (i32.const 1030) (i32.const 5) (local.get $size))
        (call $logNum (i32.const 1050) (i32.const 4) (local.get $eos))
        (if (i32.eqz (local.get $size)) (then (return (i32.const 0))))
        (drop (call $proxy_get_buffer_bytes (i32.const 2) (i32.const 0) (local.get $size) (i32.const 520) (i32.const 524)))
        (local.set $p (i32.load (i32.const 520)))
        ;; not a whole line yet: keep it
        (if (i32.ne (i32.load8_u (i32.add (local.get $p) (i32.sub (local.get $size) (i32.const 1)))) (i32.const 10))
          (then (return (i32.const 1))))
        ;; "quit"
        (if (i32.eq (i32.load (local.get $p)) (i32.const 0x74697571))
          (then (drop (call $proxy_close_stream (i32.const 2))) (return (i32.const 0))))
        (drop (call $proxy_set_buffer_bytes (i32.const 2) (i32.const 0) (i32.const 0) (i32.const 1110) (i32.const 1)))
        (i32.const 0))
      (func (export "proxy_on_upstream_data") (param $id i32) (param $size i32) (param $eos i32) (result i32)
        (call $logNum (i32.const 1040) (i32.const 3) (local.get $size))
        (i32.const 0))
      (func (export "proxy_on_downstream_connection_close") (param $id i32) (param $peer i32)
        (call $logNum (i32.const 1060) (i32.const 7) (local.get $peer)))
      (func (export "proxy_on_upstream_connection_close") (param $id i32) (param $peer i32)
        (call $logNum (i32.const 1070) (i32.const 7) (local.get $peer)))
      (func (export "proxy_on_done") (param $id i32) (result i32)
        (if (i32.ne (local.get $id) (i32.const 1)) (then (call $logNum (i32.const 1080) (i32.const 5) (local.get $id))))
        (i32.const 1))
      (func (export "proxy_on_log") (param $id i32)
        (call $logNum (i32.const 1090) (i32.const 4) (local.get $id)))
      (func (export "proxy_on_delete") (param $id i32)
        (if (i32.ne (local.get $id) (i32.const 1)) (then (call $logNum (i32.const 1100) (i32.const 7) (local.get $id)))))`,
  });
}
