import { MapType, Status } from '../abi';
import { StreamContextState, type MapAccess } from '../contexts';
import { decodePairs, encodePairs, type HeaderMap } from '../header-map';
import { type HostFunctions, u32 } from './args';
import type { VmApi } from './vm-api';

interface LiveMap {
  map: HeaderMap;
  writable: boolean;
}

const lent = (map: HeaderMap | undefined, access: MapAccess): LiveMap | undefined =>
  map && access !== 'none' ? { map, writable: access === 'write' } : undefined;

/**
 * The map `type` as the current callback sees it (Envoy's getConstMap), or undefined when Envoy's
 * pointer for it is null now. Http call response maps are never writable (Envoy's getMap has no case
 * for them).
 */
function liveMap(vm: VmApi, type: number): LiveMap | undefined {
  if (type === MapType.HTTP_CALL_RESPONSE_HEADERS || type === MapType.HTTP_CALL_RESPONSE_TRAILERS) {
    const live = vm.httpCallResponse;
    if (!live) return undefined;
    const map = type === MapType.HTTP_CALL_RESPONSE_HEADERS ? live.headers : live.trailers;
    return { map, writable: false };
  }
  const ctx = vm.current;
  if (!(ctx instanceof StreamContextState)) return undefined;
  switch (type) {
    case MapType.HTTP_REQUEST_HEADERS:
      return lent(ctx.requestHeaders, ctx.access.requestHeaders);
    case MapType.HTTP_REQUEST_TRAILERS:
      return lent(ctx.requestTrailers, ctx.access.requestTrailers);
    case MapType.HTTP_RESPONSE_HEADERS:
      return lent(ctx.responseHeaders, ctx.access.responseHeaders);
    case MapType.HTTP_RESPONSE_TRAILERS:
      return lent(ctx.responseTrailers, ctx.access.responseTrailers);
    default:
      return undefined;
  }
}

/** Header and trailer maps, answered as Envoy's context.cc does (see the README's host-call table). */
export function headerMapCalls(vm: VmApi): HostFunctions {
  const mem = () => vm.memory;
  const writableMap = (type: number): HeaderMap | Status => {
    const live = liveMap(vm, type);
    return live?.writable ? live.map : Status.BAD_ARGUMENT;
  };
  /** Header maps a plugin writes stay within the header limit (Envoy's max_request_headers_kb). */
  const fits = (map: HeaderMap, added: number, removedKey?: string): boolean => {
    let bytes = added;
    for (const [k, v] of map.pairs) if (k !== removedKey) bytes += k.length + v.length;
    return bytes <= vm.env.config.streamLimits.maxHeaderBytes;
  };
  return {
    proxy_get_header_map_pairs(type, ptrPtr, sizePtr) {
      // Envoy: a map that is not there reads as an empty map, and the call still answers OK.
      const pairs = liveMap(vm, u32(type))?.map.pairs ?? [];
      mem().writeOut(encodePairs(pairs), u32(ptrPtr), u32(sizePtr));
      return Status.OK;
    },
    proxy_set_header_map_pairs(type, ptr, size) {
      const pairs = decodePairs(mem().read(u32(ptr), u32(size))) ?? [];
      const map = writableMap(u32(type));
      if (typeof map === 'number') return map;
      const bytes = pairs.reduce((n, [k, v]) => n + k.length + v.length, 0);
      if (bytes > vm.env.config.streamLimits.maxHeaderBytes) return Status.BAD_ARGUMENT;
      map.setAll(pairs);
      return Status.OK;
    },
    proxy_get_header_map_value(type, keyPtr, keySize, valuePtrPtr, valueSizePtr) {
      const key = mem().readString(u32(keyPtr), u32(keySize));
      const live = liveMap(vm, u32(type));
      if (!live) return Status.BAD_ARGUMENT;
      let value = live.map.get(key);
      if (value === undefined) {
        // ABI 0.1.0 plugins expect an empty value for a missing key (Envoy keeps that for them).
        if (vm.abi !== '0.1.0') return Status.NOT_FOUND;
        value = '';
      }
      mem().writeOut(Buffer.from(value, 'utf8'), u32(valuePtrPtr), u32(valueSizePtr));
      return Status.OK;
    },
    proxy_add_header_map_value(type, keyPtr, keySize, valuePtr, valueSize) {
      const key = mem().readString(u32(keyPtr), u32(keySize));
      const value = mem().readString(u32(valuePtr), u32(valueSize));
      const map = writableMap(u32(type));
      if (typeof map === 'number') return map;
      if (!fits(map, key.length + value.length)) return Status.BAD_ARGUMENT;
      map.add(key, value);
      return Status.OK;
    },
    proxy_replace_header_map_value(type, keyPtr, keySize, valuePtr, valueSize) {
      const key = mem().readString(u32(keyPtr), u32(keySize));
      const value = mem().readString(u32(valuePtr), u32(valueSize));
      const map = writableMap(u32(type));
      if (typeof map === 'number') return map;
      if (!fits(map, key.length + value.length, key.toLowerCase())) return Status.BAD_ARGUMENT;
      map.replace(key, value);
      return Status.OK;
    },
    proxy_remove_header_map_value(type, keyPtr, keySize) {
      const key = mem().readString(u32(keyPtr), u32(keySize));
      const map = writableMap(u32(type));
      if (typeof map === 'number') return map;
      map.remove(key);
      return Status.OK;
    },
    proxy_get_header_map_size(type, sizePtr) {
      // Envoy asks the mutable map here, so read-only maps (http call answers, on_log) are BAD_ARGUMENT.
      const map = writableMap(u32(type));
      if (typeof map === 'number') return map;
      // Envoy answers HeaderMap::byteSize(): the bytes of all keys and values.
      const bytes = map.pairs.reduce(
        (total, [k, v]) => total + Buffer.byteLength(k) + Buffer.byteLength(v),
        0,
      );
      mem().writeU32(u32(sizePtr), bytes);
      return Status.OK;
    },
  };
}
