import { execFileSync } from 'node:child_process';
import { memorySettings } from '../src/metrics/memory-budget';
import { manifestLimits } from './support/manifest-limits';

describe('k8s/base/deployment.yaml: memory limit, heap and budget agree', () => {
  const limits = manifestLimits();

  it('hands the container memory limit to mesha as MEMORY_LIMIT_BYTES', () => {
    expect(limits.env.MEMORY_LIMIT_BYTES?.valueFrom).toEqual({
      resourceFieldRef: { containerName: 'mesha', resource: 'limits.memory' },
    });
  });

  it('keeps the heap limit inside the memory limit, with room for buffers and the young generation', () => {
    const heapBytes = limits.heapMiB * 2 ** 20;
    expect(heapBytes).toBeLessThanOrEqual(0.7 * limits.limitBytes);
    expect(heapBytes).toBeGreaterThanOrEqual(limits.requestBytes / 2);
  });

  it('derives a series budget that fits in the heap next to mesha itself', () => {
    // V8's heap limit under the manifests' flag (old space plus the young generation).
    const heapBytes = Number(
      execFileSync(process.execPath, [
        `--max-old-space-size=${limits.heapMiB}`,
        '-p',
        'require("v8").getHeapStatistics().heap_size_limit',
      ])
        .toString()
        .trim(),
    );
    expect(heapBytes).toBeLessThan(limits.limitBytes);
    const { budgetBytes, limitSource } = memorySettings(
      { limitBytes: limits.limitBytes },
      undefined,
      heapBytes,
    );
    expect(limitSource).toBe('setting');
    // mesha's own heap is ~40 MB; a render transiently needs about the budget again.
    expect(budgetBytes).toBeLessThanOrEqual((heapBytes - 40 * 2 ** 20) / 2);
    expect(budgetBytes).toBeGreaterThan(16 * 2 ** 20);
  });

  it('ships a non-zero series TTL', () => {
    expect(Number(limits.env.SERIES_TTL_SECONDS?.value)).toBeGreaterThan(0);
  });
});
