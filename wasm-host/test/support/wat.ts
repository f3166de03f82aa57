import wabtInit from 'wabt';

type Wabt = Awaited<ReturnType<typeof wabtInit>>;
let wabt: Promise<Wabt> | undefined;

/** Compiles WAT text to module bytes with the wabt npm package. */
export async function compileWat(text: string): Promise<Uint8Array> {
  wabt ??= wabtInit();
  const w = await wabt;
  const module = w.parseWat('test.wat', text, {
    mutable_globals: true,
    sat_float_to_int: true,
    bulk_memory: true,
  });
  try {
    module.validate();
    return module.toBinary({}).buffer;
  } finally {
    module.destroy();
  }
}

/** Bytes as a WAT data string ("\\xx" escapes). */
export function watBytes(bytes: Uint8Array | string): string {
  const b = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : Buffer.from(bytes);
  return [...b].map((x) => '\\' + x.toString(16).padStart(2, '0')).join('');
}

/** Every env import a test plugin may use, with its ABI signature. */
const IMPORTS: Record<string, string> = {
  proxy_log: '(param i32 i32 i32) (result i32)',
  proxy_get_log_level: '(param i32) (result i32)',
  proxy_get_current_time_nanoseconds: '(param i32) (result i32)',
  proxy_set_tick_period_milliseconds: '(param i32) (result i32)',
  proxy_get_buffer_bytes: '(param i32 i32 i32 i32 i32) (result i32)',
  proxy_get_buffer_status: '(param i32 i32 i32) (result i32)',
  proxy_set_buffer_bytes: '(param i32 i32 i32 i32 i32) (result i32)',
  proxy_get_header_map_pairs: '(param i32 i32 i32) (result i32)',
  proxy_set_header_map_pairs: '(param i32 i32 i32) (result i32)',
  proxy_get_header_map_value: '(param i32 i32 i32 i32 i32) (result i32)',
  proxy_add_header_map_value: '(param i32 i32 i32 i32 i32) (result i32)',
  proxy_replace_header_map_value: '(param i32 i32 i32 i32 i32) (result i32)',
  proxy_remove_header_map_value: '(param i32 i32 i32) (result i32)',
  proxy_get_header_map_size: '(param i32 i32) (result i32)',
  proxy_get_property: '(param i32 i32 i32 i32) (result i32)',
  proxy_set_property: '(param i32 i32 i32 i32) (result i32)',
  proxy_http_call: '(param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)',
  proxy_get_status: '(param i32 i32 i32) (result i32)',
  proxy_define_metric: '(param i32 i32 i32 i32) (result i32)',
  proxy_increment_metric: '(param i32 i64) (result i32)',
  proxy_record_metric: '(param i32 i64) (result i32)',
  proxy_get_metric: '(param i32 i32) (result i32)',
  proxy_continue_stream: '(param i32) (result i32)',
  proxy_close_stream: '(param i32) (result i32)',
  proxy_send_local_response: '(param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)',
  proxy_get_shared_data: '(param i32 i32 i32 i32 i32) (result i32)',
  proxy_set_shared_data: '(param i32 i32 i32 i32 i32) (result i32)',
  proxy_register_shared_queue: '(param i32 i32 i32) (result i32)',
  proxy_resolve_shared_queue: '(param i32 i32 i32 i32 i32) (result i32)',
  proxy_enqueue_shared_queue: '(param i32 i32 i32) (result i32)',
  proxy_dequeue_shared_queue: '(param i32 i32 i32) (result i32)',
  proxy_set_effective_context: '(param i32) (result i32)',
  proxy_done: '(result i32)',
  proxy_get_configuration: '(param i32 i32) (result i32)',
  proxy_continue_request: '(result i32)',
  proxy_continue_response: '(result i32)',
  proxy_clear_route_cache: '(result i32)',
  proxy_grpc_call: '(param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)',
};

export interface PluginSource {
  /** Function bodies and exports; may call any $name of IMPORTS and the helpers below. */
  body: string;
  /** Data segments: [offset, bytes]. Offsets 1024..65535 are free; the heap starts at 65536. */
  data?: Array<[number, Uint8Array | string]>;
  abi?: '0_2_1' | '0_2_0' | '0_1_0' | 'none';
  /** Extra raw import lines. */
  extraImports?: string;
  /** Leave out the `malloc` export (e.g. to test proxy_on_memory_allocate). */
  noMalloc?: boolean;
}

/**
 * A test plugin in WAT: memory (2 pages, heap from 65536), a bump `malloc`, the ABI marker, every env
 * import, and helpers: `$logStr (ptr len)` logs at INFO, `$logStatus (code)` logs "status=<code>",
 * `$logU32At (ptr)` logs the u32 at ptr as "u32=<n>".
 * Scratch: 512..1023 is free for out-params.
 */
export function pluginWat(src: PluginSource): string {
  const imports = Object.entries(IMPORTS)
    .filter(([name]) => src.body.includes(`$${name}`) || ['proxy_log'].includes(name))
    .map(([name, sig]) => `(import "env" "${name}" (func $${name} ${sig}))`)
    .join('\n  ');
  const data = (src.data ?? [])
    .map(([offset, bytes]) => `(data (i32.const ${offset}) "${watBytes(bytes)}")`)
    .join('\n  ');
  const marker =
    src.abi === 'none' ? '' : `(func (export "proxy_abi_version_${src.abi ?? '0_2_1'}"))`;
  return `(module
  ${imports}
  ${src.extraImports ?? ''}
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 65536))
  (global $mallocCalls (mut i32) (i32.const 0))
  (func $malloc (param $n i32) (result i32) (local $p i32)
    (global.set $mallocCalls (i32.add (global.get $mallocCalls) (i32.const 1)))
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n)))
    (if (i32.gt_u (global.get $heap) (i32.mul (memory.size) (i32.const 65536)))
      (then (drop (memory.grow (i32.const 4)))))
    (local.get $p))
  ${src.noMalloc ? '' : '(export "malloc" (func $malloc))'}
  ${marker}
  (func $logStr (param $p i32) (param $n i32)
    (drop (call $proxy_log (i32.const 2) (local.get $p) (local.get $n))))
  (func $logNum (param $prefix i32) (param $plen i32) (param $v i32) (local $len i32) (local $tmp i32) (local $i i32)
    ;; prefix copied to 256, decimal digits appended
    (memory.copy (i32.const 256) (local.get $prefix) (local.get $plen))
    (local.set $tmp (local.get $v))
    (local.set $len (i32.const 1))
    (block $done (loop $count
      (br_if $done (i32.lt_u (local.get $tmp) (i32.const 10)))
      (local.set $tmp (i32.div_u (local.get $tmp) (i32.const 10)))
      (local.set $len (i32.add (local.get $len) (i32.const 1)))
      (br $count)))
    (local.set $i (local.get $len))
    (local.set $tmp (local.get $v))
    (loop $digits
      (local.set $i (i32.sub (local.get $i) (i32.const 1)))
      (i32.store8 (i32.add (i32.add (i32.const 256) (local.get $plen)) (local.get $i))
        (i32.add (i32.const 48) (i32.rem_u (local.get $tmp) (i32.const 10))))
      (local.set $tmp (i32.div_u (local.get $tmp) (i32.const 10)))
      (br_if $digits (i32.gt_u (local.get $i) (i32.const 0))))
    (call $logStr (i32.const 256) (i32.add (local.get $plen) (local.get $len))))
  (data (i32.const 200) "status=u32=")
  (func $logStatus (param $s i32) (call $logNum (i32.const 200) (i32.const 7) (local.get $s)))
  (func $logU32At (param $p i32) (call $logNum (i32.const 207) (i32.const 4) (i32.load (local.get $p))))
  ${data}
  ${src.body}
)`;
}

export async function buildPlugin(src: PluginSource): Promise<Uint8Array> {
  return compileWat(pluginWat(src));
}
