/** Proxy-Wasm ABI constants, values exactly as proxy-wasm/spec v0.2.1 and proxy-wasm-cpp-host define them. */

export enum Status {
  OK = 0,
  NOT_FOUND = 1,
  BAD_ARGUMENT = 2,
  SERIALIZATION_FAILURE = 3,
  PARSE_FAILURE = 4,
  INVALID_MEMORY_ACCESS = 6,
  EMPTY = 7,
  CAS_MISMATCH = 8,
  INTERNAL_FAILURE = 10,
  BROKEN_CONNECTION = 11,
  UNIMPLEMENTED = 12,
}

export enum LogLevel {
  TRACE = 0,
  DEBUG = 1,
  INFO = 2,
  WARN = 3,
  ERROR = 4,
  CRITICAL = 5,
}

export enum Action {
  CONTINUE = 0,
  PAUSE = 1,
}

export enum BufferType {
  HTTP_REQUEST_BODY = 0,
  HTTP_RESPONSE_BODY = 1,
  DOWNSTREAM_DATA = 2,
  UPSTREAM_DATA = 3,
  HTTP_CALL_RESPONSE_BODY = 4,
  GRPC_CALL_MESSAGE = 5,
  VM_CONFIGURATION = 6,
  PLUGIN_CONFIGURATION = 7,
  FOREIGN_FUNCTION_ARGUMENTS = 8,
}

export enum MapType {
  HTTP_REQUEST_HEADERS = 0,
  HTTP_REQUEST_TRAILERS = 1,
  HTTP_RESPONSE_HEADERS = 2,
  HTTP_RESPONSE_TRAILERS = 3,
  GRPC_CALL_INITIAL_METADATA = 4,
  GRPC_CALL_TRAILING_METADATA = 5,
  HTTP_CALL_RESPONSE_HEADERS = 6,
  HTTP_CALL_RESPONSE_TRAILERS = 7,
}

export enum StreamType {
  HTTP_REQUEST = 0,
  HTTP_RESPONSE = 1,
  DOWNSTREAM = 2,
  UPSTREAM = 3,
}

export enum MetricType {
  COUNTER = 0,
  GAUGE = 1,
  HISTOGRAM = 2,
}

export type AbiVersion = '0.1.0' | '0.2.0' | '0.2.1';

/** ABI marker exports the host accepts, newest first. */
export const ABI_MARKERS: ReadonlyArray<[string, AbiVersion]> = [
  ['proxy_abi_version_0_2_1', '0.2.1'],
  ['proxy_abi_version_0_2_0', '0.2.0'],
  ['proxy_abi_version_0_1_0', '0.1.0'],
];

/**
 * Host functions Envoy registers for every 0.2.x module that this host answers with UNIMPLEMENTED
 * (and a log line, once). Importing them is fine; calling them never gives a silent wrong answer.
 */
export const UNIMPLEMENTED_HOST_FUNCTIONS: readonly string[] = [
  'proxy_grpc_call',
  'proxy_grpc_stream',
  'proxy_grpc_send',
  'proxy_grpc_cancel',
  'proxy_grpc_close',
  'proxy_call_foreign_function',
];

/** Host functions cpp-host registers only for some ABI versions (src/wasm.cc, registerCallbacks). */
export const VERSION_ONLY_HOST_FUNCTIONS: Readonly<Record<string, AbiVersion[]>> = {
  proxy_get_log_level: ['0.2.1'],
  proxy_get_configuration: ['0.1.0'],
  proxy_continue_request: ['0.1.0'],
  proxy_continue_response: ['0.1.0'],
  proxy_clear_route_cache: ['0.1.0'],
  proxy_continue_stream: ['0.2.0', '0.2.1'],
  proxy_close_stream: ['0.2.0', '0.2.1'],
};

/** Largest header map (bytes / pairs) the host parses, like cpp-host's PROXY_WASM_HOST_PAIRS_MAX_*. */
export const MAX_PAIRS_BYTES = 1 << 20;
export const MAX_PAIRS_COUNT = 1024;
