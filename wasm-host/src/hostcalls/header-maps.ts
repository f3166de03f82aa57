import { MapType, Status } from '../abi';
import { StreamContextState } from '../contexts';
import { decodePairs, encodePairs, type HeaderMap } from '../header-map';
import type { Vm } from '../vm';
import { type HostFunctions, u32 } from './args';

/** The map `type` as the current callback sees it; `writable` is false for http call responses. */
function liveMap(vm: Vm, type: number): { map: HeaderMap; writable: boolean } | undefined {
  if (type === MapType.HTTP_CALL_RESPONSE_HEADERS || type === MapType.HTTP_CALL_RESPONSE_TRAILERS) {
    const live = vm.httpCallResponse;
    if (!live) return undefined;
    return {
      map: type === MapType.HTTP_CALL_RESPONSE_HEADERS ? live.headers : live.trailers,
      writable: false,
    };
  }
  const ctx = vm.current;
  if (!(ctx instanceof StreamContextState)) return undefined;
  const writable = ctx.phase !== 'done';
  switch (type) {
    case MapType.HTTP_REQUEST_HEADERS:
      return { map: ctx.requestHeaders, writable: writable && ctx.phase === 'request' };
    case MapType.HTTP_REQUEST_TRAILERS:
      return ctx.requestTrailers && { map: ctx.requestTrailers, writable };
    case MapType.HTTP_RESPONSE_HEADERS:
      return ctx.responseHeaders && { map: ctx.responseHeaders, writable };
    case MapType.HTTP_RESPONSE_TRAILERS:
      return ctx.responseTrailers && { map: ctx.responseTrailers, writable };
    default:
      return undefined;
  }
}

export function headerMapCalls(vm: Vm): HostFunctions {
  const mem = () => vm.memory;
  const writableMap = (type: number): HeaderMap | Status => {
    const live = liveMap(vm, type);
    if (!live) return Status.BAD_ARGUMENT;
    if (!live.writable) return Status.BAD_ARGUMENT;
    return live.map;
  };
  return {
    proxy_get_header_map_pairs(type, ptrPtr, sizePtr) {
      const live = liveMap(vm, u32(type));
      if (!live) return Status.BAD_ARGUMENT;
      mem().writeOut(encodePairs(live.map.pairs), u32(ptrPtr), u32(sizePtr));
      return Status.OK;
    },
    proxy_set_header_map_pairs(type, ptr, size) {
      const pairs = decodePairs(mem().read(u32(ptr), u32(size))) ?? [];
      const map = writableMap(u32(type));
      if (typeof map === 'number') return map;
      map.setAll(pairs);
      return Status.OK;
    },
    proxy_get_header_map_value(type, keyPtr, keySize, valuePtrPtr, valueSizePtr) {
      const key = mem().readString(u32(keyPtr), u32(keySize));
      const live = liveMap(vm, u32(type));
      if (!live) return Status.BAD_ARGUMENT;
      const value = live.map.get(key);
      if (value === undefined) return Status.NOT_FOUND;
      mem().writeOut(Buffer.from(value, 'utf8'), u32(valuePtrPtr), u32(valueSizePtr));
      return Status.OK;
    },
    proxy_add_header_map_value(type, keyPtr, keySize, valuePtr, valueSize) {
      const key = mem().readString(u32(keyPtr), u32(keySize));
      const value = mem().readString(u32(valuePtr), u32(valueSize));
      const map = writableMap(u32(type));
      if (typeof map === 'number') return map;
      map.add(key, value);
      return Status.OK;
    },
    proxy_replace_header_map_value(type, keyPtr, keySize, valuePtr, valueSize) {
      const key = mem().readString(u32(keyPtr), u32(keySize));
      const value = mem().readString(u32(valuePtr), u32(valueSize));
      const map = writableMap(u32(type));
      if (typeof map === 'number') return map;
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
      const live = liveMap(vm, u32(type));
      if (!live) return Status.BAD_ARGUMENT;
      // Envoy answers HeaderMap::byteSize(): the bytes of all keys and values.
      const bytes = live.map.pairs.reduce(
        (total, [k, v]) => total + Buffer.byteLength(k) + Buffer.byteLength(v),
        0,
      );
      mem().writeU32(u32(sizePtr), bytes);
      return Status.OK;
    },
  };
}
