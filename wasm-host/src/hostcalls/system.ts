import { LogLevel, Status } from '../abi';
import type { VmApi } from './vm-api';
import { type HostFunctions, u32 } from './args';

/** Logging, clock, timer, status, effective context and proxy_done. */
export function systemCalls(vm: VmApi): HostFunctions {
  const { env } = vm;
  return {
    proxy_log(level, ptr, size) {
      const lvl = u32(level);
      const message = vm.memory.readString(u32(ptr), u32(size));
      if (lvl > LogLevel.CRITICAL) return Status.BAD_ARGUMENT;
      env.pluginLog(vm.index, lvl, message);
      return Status.OK;
    },
    proxy_get_log_level(outPtr) {
      vm.memory.writeU32(u32(outPtr), env.config.logLevel);
      return Status.OK;
    },
    proxy_get_current_time_nanoseconds(outPtr) {
      vm.memory.writeU64(u32(outPtr), env.config.now());
      return Status.OK;
    },
    proxy_set_tick_period_milliseconds(period) {
      vm.setTickPeriod(u32(period));
      return Status.OK;
    },
    proxy_get_status(codePtr, messagePtrPtr, messageSizePtr) {
      vm.memory.assertRange(u32(codePtr), 4);
      vm.memory.writeOut(
        Buffer.from(vm.lastStatus.message, 'utf8'),
        u32(messagePtrPtr),
        u32(messageSizePtr),
      );
      vm.memory.writeU32(u32(codePtr), vm.lastStatus.code);
      return Status.OK;
    },
    proxy_set_effective_context(contextId) {
      return vm.setEffectiveContext(u32(contextId)) ? Status.OK : Status.BAD_ARGUMENT;
    },
    proxy_done() {
      return vm.rootDone() ? Status.OK : Status.NOT_FOUND;
    },
  };
}
