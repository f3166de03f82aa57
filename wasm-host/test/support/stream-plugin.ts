import { encodePairs } from '../../src';
import { buildPlugin } from './wat';

export const AUTH_CLUSTER = 'outbound|9000||auth';

/**
 * A WAT HTTP filter whose behaviour is chosen by the first byte of the request header `x-mode`:
 * l = local reply 403, p = pause, call the auth cluster, continue on its answer, t = trap, c = close stream,
 * b = replace the request body, anything else = pass. Always: adds `x-added: yes` to the request, adds
 * `x-plugin: wat` and removes `x-secret` on the response, appends "!" to the response body (at end_of_stream), logs
 * response.code, and logs on_done/on_log/on_delete with the context id.
 */
export function streamPlugin(): Promise<Uint8Array> {
  const authHeaders = encodePairs([
    [':method', 'GET'],
    [':path', '/check'],
    [':authority', 'auth'],
  ]);
  return buildPlugin({
    data: [
      [1024, 'x-mode'],
      [1040, 'x-added'],
      [1050, 'yes'],
      [1060, 'x-plugin'],
      [1070, 'wat'],
      [1080, 'x-secret'],
      [1100, 'denied'],
      [1110, 'no entry'],
      [1120, encodePairs([['x-why', 'test']])],
      [1200, 'REPLACED'],
      [1210, '!'],
      [1220, 'response\0code'],
      [1240, 'done '],
      [1250, 'log '],
      [1260, 'delete '],
      [1270, 'create '],
      [1300, AUTH_CLUSTER],
      [1400, authHeaders],
      [1600, 'request\0path'],
      [1620, 'requests_seen'],
    ],
    body: `
      (global $waiting (mut i32) (i32.const 0))
      (global $seen (mut i32) (i32.const 0))
      (func (export "proxy_on_vm_start") (param i32 i32) (result i32)
        (drop (call $proxy_define_metric (i32.const 0) (i32.const 1620) (i32.const 13) (i32.const 512)))
        (global.set $seen (i32.load (i32.const 512)))
        (i32.const 1))
      ;; x-mode is read in on_request_headers (later callbacks cannot reach the request headers, as in
      ;; Envoy) and kept per context id at 3072 + (id & 1023).
      (func $readMode (param $id i32) (result i32) (local $m i32)
        (if (i32.eqz (call $proxy_get_header_map_value (i32.const 0) (i32.const 1024) (i32.const 6) (i32.const 520) (i32.const 524)))
          (then (local.set $m (i32.load8_u (i32.load (i32.const 520))))))
        (i32.store8 (i32.add (i32.const 3072) (i32.and (local.get $id) (i32.const 1023))) (local.get $m))
        (local.get $m))
      (func $mode (param $id i32) (result i32)
        (i32.load8_u (i32.add (i32.const 3072) (i32.and (local.get $id) (i32.const 1023)))))
      (func (export "proxy_on_context_create") (param $id i32) (param $parent i32)
        (if (local.get $parent) (then (call $logNum (i32.const 1270) (i32.const 7) (local.get $id)))))
      (func (export "proxy_on_request_headers") (param $id i32) (param $n i32) (param $eos i32) (result i32) (local $m i32)
        (local.set $m (call $readMode (local.get $id)))
        (drop (call $proxy_increment_metric (global.get $seen) (i64.const 1)))
        (drop (call $proxy_add_header_map_value (i32.const 0) (i32.const 1040) (i32.const 7) (i32.const 1050) (i32.const 3)))
        (if (i32.eq (local.get $m) (i32.const 108)) ;; l
          (then
            (drop (call $proxy_send_local_response (i32.const 403) (i32.const 1100) (i32.const 6)
              (i32.const 1110) (i32.const 8) (i32.const 1120) (i32.const ${encodePairs([['x-why', 'test']]).length}) (i32.const -1)))
            (return (i32.const 1))))
        (if (i32.eq (local.get $m) (i32.const 116)) (then unreachable)) ;; t
        (if (i32.eq (local.get $m) (i32.const 99)) ;; c
          (then (drop (call $proxy_close_stream (i32.const 0))) (return (i32.const 1))))
        (if (i32.eq (local.get $m) (i32.const 112)) ;; p
          (then
            (drop (call $proxy_http_call (i32.const 1300) (i32.const ${AUTH_CLUSTER.length})
              (i32.const 1400) (i32.const ${authHeaders.length}) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)
              (i32.const 5000) (i32.const 512)))
            (global.set $waiting (local.get $id))
            (return (i32.const 1))))
        (i32.const 0))
      (func (export "proxy_on_http_call_response") (param $root i32) (param $token i32) (param $nh i32) (param $bs i32) (param $nt i32)
        (drop (call $proxy_set_effective_context (global.get $waiting)))
        (if (i32.eq (local.get $bs) (i32.const 2)) ;; "ok"
          (then (drop (call $proxy_continue_stream (i32.const 0))))
          (else (drop (call $proxy_send_local_response (i32.const 401) (i32.const 1100) (i32.const 6)
              (i32.const 1110) (i32.const 8) (i32.const 0) (i32.const 0) (i32.const -1))))))
      (func (export "proxy_on_request_body") (param $id i32) (param $size i32) (param $eos i32) (result i32)
        (if (i32.eq (call $mode (local.get $id)) (i32.const 98)) ;; b
          (then (drop (call $proxy_set_buffer_bytes (i32.const 0) (i32.const 0) (local.get $size) (i32.const 1200) (i32.const 8)))))
        (i32.const 0))
      (func (export "proxy_on_response_headers") (param $id i32) (param $n i32) (param $eos i32) (result i32)
        (drop (call $proxy_add_header_map_value (i32.const 2) (i32.const 1060) (i32.const 8) (i32.const 1070) (i32.const 3)))
        (drop (call $proxy_remove_header_map_value (i32.const 2) (i32.const 1080) (i32.const 8)))
        (drop (call $proxy_remove_header_map_value (i32.const 2) (i32.const 1080) (i32.const 8)))
        (if (i32.eqz (call $proxy_get_property (i32.const 1220) (i32.const 13) (i32.const 520) (i32.const 524)))
          (then (call $logU32At (i32.load (i32.const 520)))))
        (i32.const 0))
      (func (export "proxy_on_response_body") (param $id i32) (param $size i32) (param $eos i32) (result i32)
        (if (local.get $eos)
          (then (drop (call $proxy_set_buffer_bytes (i32.const 1) (local.get $size) (i32.const 0) (i32.const 1210) (i32.const 1)))))
        (i32.const 0))
      (func (export "proxy_on_done") (param $id i32) (result i32)
        (if (i32.ne (local.get $id) (i32.const 1)) (then (call $logNum (i32.const 1240) (i32.const 5) (local.get $id))))
        (i32.const 1))
      (func (export "proxy_on_log") (param $id i32)
        (call $logNum (i32.const 1250) (i32.const 4) (local.get $id))
        (if (i32.eqz (call $proxy_get_property (i32.const 1600) (i32.const 12) (i32.const 520) (i32.const 524)))
          (then (call $logStr (i32.load (i32.const 520)) (i32.load (i32.const 524))))))
      (func (export "proxy_on_delete") (param $id i32)
        (if (i32.ne (local.get $id) (i32.const 1)) (then (call $logNum (i32.const 1260) (i32.const 7) (local.get $id)))))`,
  });
}
