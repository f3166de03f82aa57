import { Status } from '../abi';
import { resolveProperty } from '../properties';
import type { VmApi } from './vm-api';
import { type HostFunctions, u32 } from './args';

const MAX_PROPERTY_BYTES = 1 << 20;

/** Paths arrive as segments joined by \0 (a trailing \0 is tolerated); dots do not split, as in Envoy. */
function segmentsOf(path: string): string[] {
  const trimmed = path.endsWith('\0') ? path.slice(0, -1) : path;
  return trimmed.split('\0');
}

export function propertyCalls(vm: VmApi): HostFunctions {
  return {
    proxy_get_property(pathPtr, pathSize, valuePtrPtr, valueSizePtr) {
      const path = vm.memory.readString(u32(pathPtr), u32(pathSize));
      vm.memory.assertRange(u32(valuePtrPtr), 4);
      vm.memory.assertRange(u32(valueSizePtr), 4);
      const value = resolveProperty(vm.env.config, vm.current, vm.root, segmentsOf(path));
      if (value === undefined) return Status.NOT_FOUND;
      vm.memory.writeOut(value, u32(valuePtrPtr), u32(valueSizePtr));
      return Status.OK;
    },
    proxy_set_property(pathPtr, pathSize, valuePtr, valueSize) {
      const path = vm.memory.readString(u32(pathPtr), u32(pathSize));
      const value = vm.memory.read(u32(valuePtr), u32(valueSize));
      if (value.length > MAX_PROPERTY_BYTES || path.length === 0) return Status.BAD_ARGUMENT;
      const ctx = vm.current ?? vm.root;
      ctx.properties.set(segmentsOf(path).join('\0'), value);
      return Status.OK;
    },
  };
}
