import { BufferType, Status } from '../abi';
import { NetworkContextState, StreamContextState } from '../contexts';
import type { VmApi } from './vm-api';
import { type HostFunctions, u32 } from './args';

interface LiveBuffer {
  bytes: Buffer;
  /** Absent for read-only buffers. */
  replace?: (bytes: Buffer) => void;
}

/** The buffer `type` as the current callback sees it, or undefined when it is not available now. */
function liveBuffer(vm: VmApi, type: number): LiveBuffer | undefined {
  const { config } = vm.env;
  switch (type) {
    case BufferType.VM_CONFIGURATION:
      return { bytes: config.vmConfig };
    case BufferType.PLUGIN_CONFIGURATION:
      return vm.inConfigure ? { bytes: config.pluginConfig } : undefined;
    case BufferType.HTTP_CALL_RESPONSE_BODY:
      return vm.httpCallResponse ? { bytes: vm.httpCallResponse.body } : undefined;
    case BufferType.DOWNSTREAM_DATA:
    case BufferType.UPSTREAM_DATA: {
      const ctx = vm.current;
      if (!(ctx instanceof NetworkContextState)) return undefined;
      const want = type === BufferType.DOWNSTREAM_DATA ? 'downstream' : 'upstream';
      if (ctx.liveData !== want) return undefined;
      if (want === 'downstream')
        return { bytes: ctx.downstreamData, replace: (b) => (ctx.downstreamData = b) };
      return { bytes: ctx.upstreamData, replace: (b) => (ctx.upstreamData = b) };
    }
    case BufferType.HTTP_REQUEST_BODY:
    case BufferType.HTTP_RESPONSE_BODY: {
      const ctx = vm.current;
      if (!(ctx instanceof StreamContextState)) return undefined;
      const want = type === BufferType.HTTP_REQUEST_BODY ? 'request' : 'response';
      if (ctx.liveBody !== want) return undefined;
      if (want === 'request')
        return { bytes: ctx.requestBody ?? Buffer.alloc(0), replace: (b) => (ctx.requestBody = b) };
      return { bytes: ctx.responseBody ?? Buffer.alloc(0), replace: (b) => (ctx.responseBody = b) };
    }
    default:
      return undefined;
  }
}

export function bufferCalls(vm: VmApi): HostFunctions {
  return {
    // ABI 0.1.0: the plugin configuration during proxy_on_configure, else the VM configuration
    // (Envoy's Context::getConfiguration).
    proxy_get_configuration(ptrPtr, sizePtr) {
      const { config } = vm.env;
      vm.memory.writeOut(
        vm.inConfigure ? config.pluginConfig : config.vmConfig,
        u32(ptrPtr),
        u32(sizePtr),
      );
      return Status.OK;
    },
    proxy_get_buffer_bytes(type, start, maxSize, ptrPtr, sizePtr) {
      const from = u32(start);
      const max = u32(maxSize);
      if (from + max > 0xffffffff) return Status.BAD_ARGUMENT;
      if (u32(type) > BufferType.FOREIGN_FUNCTION_ARGUMENTS) return Status.BAD_ARGUMENT;
      const buffer = liveBuffer(vm, u32(type));
      if (!buffer) return Status.NOT_FOUND;
      if (from > buffer.bytes.length) return Status.BAD_ARGUMENT;
      const slice = buffer.bytes.subarray(from, Math.min(buffer.bytes.length, from + max));
      // Like cpp-host: nothing to copy means OK without touching the out-params (some SDKs pass junk there).
      if (slice.length > 0) vm.memory.writeOut(slice, u32(ptrPtr), u32(sizePtr));
      return Status.OK;
    },
    proxy_get_buffer_status(type, lengthPtr, flagsPtr) {
      const buffer = liveBuffer(vm, u32(type));
      if (!buffer) return Status.NOT_FOUND;
      vm.memory.assertRange(u32(flagsPtr), 4);
      vm.memory.writeU32(u32(lengthPtr), buffer.bytes.length);
      vm.memory.writeU32(u32(flagsPtr), 0);
      return Status.OK;
    },
    proxy_set_buffer_bytes(type, start, size, dataPtr, dataSize) {
      const data = vm.memory.read(u32(dataPtr), u32(dataSize));
      const buffer = liveBuffer(vm, u32(type));
      if (!buffer) return Status.NOT_FOUND;
      if (!buffer.replace) return Status.BAD_ARGUMENT;
      const from = Math.min(u32(start), buffer.bytes.length);
      const to = Math.min(buffer.bytes.length, from + u32(size));
      // A plugin cannot grow a body past the buffer limit (a 4-byte body must not become 335 MB).
      const grown = buffer.bytes.length - (to - from) + data.length;
      if (grown > vm.env.config.streamLimits.bufferLimitBytes) return Status.BAD_ARGUMENT;
      buffer.replace(
        Buffer.concat([buffer.bytes.subarray(0, from), data, buffer.bytes.subarray(to)]),
      );
      return Status.OK;
    },
  };
}
