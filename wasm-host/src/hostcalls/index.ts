import type { VmApi } from './vm-api';
import type { HostFunctions } from './args';
import { bufferCalls } from './buffers';
import { headerMapCalls } from './header-maps';
import { httpCallCalls } from './http-calls';
import { metricCalls } from './metrics';
import { propertyCalls } from './properties';
import { sharedCalls } from './shared';
import { streamCalls } from './streams';
import { systemCalls } from './system';

export type { HostArg, HostFunction, HostFunctions } from './args';

/** Every env.* host function this host implements, bound to one VM. */
export function createHostFunctions(vm: VmApi): HostFunctions {
  return {
    ...systemCalls(vm),
    ...bufferCalls(vm),
    ...headerMapCalls(vm),
    ...httpCallCalls(vm),
    ...metricCalls(vm),
    ...propertyCalls(vm),
    ...sharedCalls(vm),
    ...streamCalls(vm),
  };
}
