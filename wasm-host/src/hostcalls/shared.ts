import { Status } from '../abi';
import type { VmApi } from './vm-api';
import { type HostFunctions, u32 } from './args';

/** Shared data (with CAS) and shared queues, common to every VM of the host. */
export function sharedCalls(vm: VmApi): HostFunctions {
  const { shared, queues, config } = vm.env;
  return {
    proxy_get_shared_data(keyPtr, keySize, valuePtrPtr, valueSizePtr, casPtr) {
      const key = vm.memory.readString(u32(keyPtr), u32(keySize));
      vm.memory.assertRange(u32(casPtr), 4);
      const entry = shared.get(key);
      if (!entry) return Status.NOT_FOUND;
      vm.memory.writeOut(entry.value, u32(valuePtrPtr), u32(valueSizePtr));
      vm.memory.writeU32(u32(casPtr), entry.cas);
      return Status.OK;
    },
    proxy_set_shared_data(keyPtr, keySize, valuePtr, valueSize, cas) {
      const key = vm.memory.readString(u32(keyPtr), u32(keySize));
      const value = vm.memory.read(u32(valuePtr), u32(valueSize));
      return shared.set(key, value, u32(cas));
    },
    proxy_register_shared_queue(namePtr, nameSize, idPtr) {
      const name = vm.memory.readString(u32(namePtr), u32(nameSize));
      vm.memory.assertRange(u32(idPtr), 4);
      const owner = { vm: vm.index, contextId: (vm.current ?? vm.root).id };
      vm.memory.writeU32(u32(idPtr), queues.register(config.vmId, name, owner));
      return Status.OK;
    },
    proxy_resolve_shared_queue(vmIdPtr, vmIdSize, namePtr, nameSize, idPtr) {
      const vmId = vm.memory.readString(u32(vmIdPtr), u32(vmIdSize));
      const name = vm.memory.readString(u32(namePtr), u32(nameSize));
      vm.memory.assertRange(u32(idPtr), 4);
      const id = queues.resolve(vmId, name);
      if (id === undefined) return Status.NOT_FOUND;
      vm.memory.writeU32(u32(idPtr), id);
      return Status.OK;
    },
    proxy_enqueue_shared_queue(id, valuePtr, valueSize) {
      const value = vm.memory.read(u32(valuePtr), u32(valueSize));
      return queues.enqueue(u32(id), value);
    },
    proxy_dequeue_shared_queue(id, valuePtrPtr, valueSizePtr) {
      vm.memory.assertRange(u32(valuePtrPtr), 4);
      vm.memory.assertRange(u32(valueSizePtr), 4);
      const item = queues.dequeue(u32(id));
      if (typeof item === 'number') return item;
      vm.memory.writeOut(item, u32(valuePtrPtr), u32(valueSizePtr));
      return Status.OK;
    },
  };
}
