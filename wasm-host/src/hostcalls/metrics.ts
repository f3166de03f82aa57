import { MetricType, Status } from '../abi';
import type { VmApi } from './vm-api';
import { type HostFunctions, i64, u32 } from './args';

/** Counters, gauges and histograms; ids are per VM (vm.metricIds), values shared by the host. */
export function metricCalls(vm: VmApi): HostFunctions {
  const { metrics } = vm.env;
  const ids = vm.metricIds;
  return {
    proxy_define_metric(type, namePtr, nameSize, idPtr) {
      const name = vm.memory.readString(u32(namePtr), u32(nameSize));
      const t = u32(type);
      if (t > MetricType.HISTOGRAM || name.length === 0) return Status.BAD_ARGUMENT;
      vm.memory.assertRange(u32(idPtr), 4);
      if (!metrics.define(name, t)) return Status.BAD_ARGUMENT;
      const id = ids.assign({ name, type: t });
      vm.memory.writeU32(u32(idPtr), id);
      return Status.OK;
    },
    proxy_increment_metric(id, offset) {
      const m = ids.get(u32(id));
      if (!m) return Status.NOT_FOUND;
      const delta = Number(i64(offset));
      if (m.type === MetricType.COUNTER) {
        if (delta <= 0) return Status.BAD_ARGUMENT;
        metrics.add(m.name, vm.index, delta);
      } else if (m.type === MetricType.GAUGE) {
        metrics.add(m.name, vm.index, delta);
      } else {
        return Status.BAD_ARGUMENT;
      }
      return Status.OK;
    },
    proxy_record_metric(id, value) {
      const m = ids.get(u32(id));
      if (!m) return Status.NOT_FOUND;
      const v = Number(BigInt.asUintN(64, BigInt(value)));
      if (m.type === MetricType.COUNTER) metrics.add(m.name, vm.index, v);
      else if (m.type === MetricType.GAUGE) metrics.set(m.name, vm.index, v);
      else metrics.record(m.name, vm.index, v);
      return Status.OK;
    },
    proxy_get_metric(id, outPtr) {
      const m = ids.get(u32(id));
      if (!m) return Status.NOT_FOUND;
      if (m.type === MetricType.HISTOGRAM) return Status.BAD_ARGUMENT;
      // Envoy's stats are process-wide: every worker sees the same counter.
      const total = metrics.snapshot().get(m.name) ?? 0;
      vm.memory.writeU64(u32(outPtr), BigInt(Math.max(0, Math.trunc(total))));
      return Status.OK;
    },
  };
}
