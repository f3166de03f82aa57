import { buildPlugin } from './wat';

/**
 * A hostile WAT HTTP filter, its misdeed chosen by the first byte of the request header `x-mode`:
 * l = log "looping" and loop forever in on_request_headers, m = grow memory until it cannot (then trap, as an allocator
 * aborts), p = pause and never continue, b = grow the response body 64 KiB at a time until the host
 * refuses, h = add a response header whose value holds CR LF. Logs "done/log/delete <id>".
 */
export function hostilePlugin(): Promise<Uint8Array> {
  return buildPlugin({
    data: [
      [1024, 'x-mode'],
      [1040, 'done '],
      [1050, 'log '],
      [1060, 'delete '],
      [1070, 'x-bad'],
      [1080, 'a\r\nset-cookie: evil'],
      [1100, 'looping'],
    ],
    body: `
      (global $mode (mut i32) (i32.const 0))
      (func (export "proxy_on_request_headers") (param $id i32) (param $n i32) (param $eos i32) (result i32)
        (global.set $mode (i32.const 0))
        (if (i32.eqz (call $proxy_get_header_map_value (i32.const 0) (i32.const 1024) (i32.const 6) (i32.const 520) (i32.const 524)))
          (then (global.set $mode (i32.load8_u (i32.load (i32.const 520))))))
        (if (i32.eq (global.get $mode) (i32.const 108)) ;; l
          (then (call $logStr (i32.const 1100) (i32.const 7)) (loop $forever (br $forever))))
        (if (i32.eq (global.get $mode) (i32.const 109)) ;; m
          (then (loop $grow
            (br_if $grow (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
            unreachable))
        (if (i32.eq (global.get $mode) (i32.const 112)) ;; p
          (then (return (i32.const 1))))
        (i32.const 0))
      (func (export "proxy_on_response_headers") (param $id i32) (param $n i32) (param $eos i32) (result i32)
        (if (i32.eq (global.get $mode) (i32.const 104)) ;; h
          (then (drop (call $proxy_add_header_map_value (i32.const 2) (i32.const 1070) (i32.const 5) (i32.const 1080) (i32.const 19)))))
        (i32.const 0))
      (func (export "proxy_on_response_body") (param $id i32) (param $size i32) (param $eos i32) (result i32) (local $total i32)
        (if (i32.and (local.get $eos) (i32.eq (global.get $mode) (i32.const 98))) ;; b
          (then
            (local.set $total (local.get $size))
            (block $refused (loop $bloat
              (br_if $refused (call $proxy_set_buffer_bytes (i32.const 1) (local.get $total) (i32.const 0) (i32.const 65536) (i32.const 65536)))
              (local.set $total (i32.add (local.get $total) (i32.const 65536)))
              (br $bloat)))))
        (i32.const 0))
      (func (export "proxy_on_done") (param $id i32) (result i32)
        (if (i32.ne (local.get $id) (i32.const 1)) (then (call $logNum (i32.const 1040) (i32.const 5) (local.get $id))))
        (i32.const 1))
      (func (export "proxy_on_log") (param $id i32)
        (call $logNum (i32.const 1050) (i32.const 4) (local.get $id)))
      (func (export "proxy_on_delete") (param $id i32)
        (if (i32.ne (local.get $id) (i32.const 1)) (then (call $logNum (i32.const 1060) (i32.const 7) (local.get $id)))))`,
  });
}
