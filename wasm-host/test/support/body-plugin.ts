import { buildPlugin } from './wat';

/**
 * A WAT HTTP filter that counts body chunks and streams or buffers them, chosen by the first byte of the
 * request header `x-mode`: c = Continue every chunk, b = StopIterationAndBuffer until end_of_stream,
 * n = StopIterationNoBuffer until end_of_stream; h = pause the request headers, then as b; H = pause the
 * request headers, then as c (a body Continue resumes them, as in Envoy). Each body callback logs "req <body_size>" /
 * "resp <body_size>" and "eos <0|1>"; at end_of_stream it logs the whole buffer it can read. In mode b
 * it appends "#" to the response at end_of_stream. Metrics: `request_chunks`, `response_chunks`.
 */
export function bodyPlugin(): Promise<Uint8Array> {
  return buildPlugin({
    data: [
      [1024, 'x-mode'],
      [1040, 'req '],
      [1050, 'resp '],
      [1060, 'eos '],
      [1070, '#'],
      [1100, 'request_chunks'],
      [1120, 'response_chunks'],
    ],
    body: `
      (global $mode (mut i32) (i32.const 0))
      (global $reqChunks (mut i32) (i32.const 0))
      (global $respChunks (mut i32) (i32.const 0))
      (func (export "proxy_on_vm_start") (param i32 i32) (result i32)
        (drop (call $proxy_define_metric (i32.const 0) (i32.const 1100) (i32.const 14) (i32.const 512)))
        (global.set $reqChunks (i32.load (i32.const 512)))
        (drop (call $proxy_define_metric (i32.const 0) (i32.const 1120) (i32.const 15) (i32.const 512)))
        (global.set $respChunks (i32.load (i32.const 512)))
        (i32.const 1))
      (func (export "proxy_on_request_headers") (param $id i32) (param $n i32) (param $eos i32) (result i32)
        (global.set $mode (i32.const 0))
        (if (i32.eqz (call $proxy_get_header_map_value (i32.const 0) (i32.const 1024) (i32.const 6) (i32.const 520) (i32.const 524)))
          (then (global.set $mode (i32.load8_u (i32.load (i32.const 520))))))
        (if (i32.eq (global.get $mode) (i32.const 104)) ;; h: pause, then buffer like b
          (then (global.set $mode (i32.const 98)) (return (i32.const 1))))
        (if (i32.eq (global.get $mode) (i32.const 72)) ;; H: pause, then continue like c
          (then (global.set $mode (i32.const 99)) (return (i32.const 1))))
        (i32.const 0))
      (func $logWhole (param $buffer i32) (param $size i32)
        (if (i32.eqz (call $proxy_get_buffer_bytes (local.get $buffer) (i32.const 0) (local.get $size) (i32.const 520) (i32.const 524)))
          (then (call $logStr (i32.load (i32.const 520)) (i32.load (i32.const 524))))))
      ;; the answer for a body callback in the current mode
      (func $answer (param $eos i32) (result i32)
        (if (local.get $eos) (then (return (i32.const 0))))
        (if (i32.eq (global.get $mode) (i32.const 98)) (then (return (i32.const 1)))) ;; b
        (if (i32.eq (global.get $mode) (i32.const 110)) (then (return (i32.const 3)))) ;; n
        (i32.const 0))
      (func (export "proxy_on_request_body") (param $id i32) (param $size i32) (param $eos i32) (result i32)
        (drop (call $proxy_increment_metric (global.get $reqChunks) (i64.const 1)))
        (call $logNum (i32.const 1040) (i32.const 4) (local.get $size))
        (call $logNum (i32.const 1060) (i32.const 4) (local.get $eos))
        (if (local.get $eos) (then (call $logWhole (i32.const 0) (local.get $size))))
        (call $answer (local.get $eos)))
      (func (export "proxy_on_response_body") (param $id i32) (param $size i32) (param $eos i32) (result i32)
        (drop (call $proxy_increment_metric (global.get $respChunks) (i64.const 1)))
        (call $logNum (i32.const 1050) (i32.const 5) (local.get $size))
        (call $logNum (i32.const 1060) (i32.const 4) (local.get $eos))
        (if (i32.and (local.get $eos) (i32.le_u (local.get $size) (i32.const 64)))
          (then (call $logWhole (i32.const 1) (local.get $size))))
        (if (i32.and (local.get $eos) (i32.eq (global.get $mode) (i32.const 98)))
          (then (drop (call $proxy_set_buffer_bytes (i32.const 1) (local.get $size) (i32.const 0) (i32.const 1070) (i32.const 1)))))
        (call $answer (local.get $eos)))`,
  });
}
