// Host functions of the proxy-wasm ABI 0.2.1. AssemblyScript imports a declared function from the module
// named after its file, so these come from `env`, as proxy-wasm hosts provide them.

export declare function proxy_log(level: i32, ptr: usize, size: usize): u32;
export declare function proxy_get_buffer_bytes(
  kind: i32,
  start: u32,
  max: u32,
  outPtr: usize,
  outSize: usize,
): u32;
export declare function proxy_get_header_map_value(
  kind: i32,
  keyPtr: usize,
  keySize: usize,
  outPtr: usize,
  outSize: usize,
): u32;
export declare function proxy_get_property(
  pathPtr: usize,
  pathSize: usize,
  outPtr: usize,
  outSize: usize,
): u32;
export declare function proxy_get_current_time_nanoseconds(out: usize): u32;
export declare function proxy_set_tick_period_milliseconds(ms: u32): u32;
export declare function proxy_http_call(
  clusterPtr: usize,
  clusterSize: usize,
  headersPtr: usize,
  headersSize: usize,
  bodyPtr: usize,
  bodySize: usize,
  trailersPtr: usize,
  trailersSize: usize,
  timeoutMs: u32,
  outToken: usize,
): u32;
export declare function proxy_define_metric(
  kind: i32,
  namePtr: usize,
  nameSize: usize,
  outId: usize,
): u32;
export declare function proxy_increment_metric(id: u32, offset: i64): u32;
export declare function proxy_record_metric(id: u32, value: u64): u32;
