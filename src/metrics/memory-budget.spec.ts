import { cgroupMemoryLimit, FLOOR_SHARE, MemoryBudget, memorySettings } from './memory-budget';

const MiB = 2 ** 20;

describe('memorySettings', () => {
  it('takes the setting first, then the cgroup limit, then the heap limit', () => {
    expect(memorySettings({ limitBytes: 512 * MiB }, 256 * MiB, 4096 * MiB)).toMatchObject({
      limitBytes: 512 * MiB,
      limitSource: 'setting',
    });
    expect(memorySettings({}, 256 * MiB, 4096 * MiB)).toMatchObject({
      limitBytes: 256 * MiB,
      limitSource: 'cgroup',
    });
    expect(memorySettings({}, undefined, 200 * MiB)).toMatchObject({
      limitBytes: 200 * MiB,
      limitSource: 'heap',
    });
  });

  it('derives the budget from the smaller of the limit and the heap, unless it is set', () => {
    expect(memorySettings({}, 256 * MiB, 160 * MiB).budgetBytes).toBe(Math.floor(0.3 * 160 * MiB));
    expect(memorySettings({}, 256 * MiB, 4096 * MiB).budgetBytes).toBe(Math.floor(0.3 * 256 * MiB));
    expect(memorySettings({ budgetBytes: 10 * MiB }, 256 * MiB, 160 * MiB).budgetBytes).toBe(
      10 * MiB,
    );
  });
});

describe('cgroupMemoryLimit', () => {
  const files = (entries: Record<string, string>) => (path: string) => entries[path] ?? '';
  it('reads cgroup v2, then v1, and treats "max" and v1 "unlimited" as no limit', () => {
    expect(cgroupMemoryLimit(files({ '/sys/fs/cgroup/memory.max': '268435456\n' }))).toBe(
      256 * MiB,
    );
    expect(cgroupMemoryLimit(files({ '/sys/fs/cgroup/memory.max': 'max\n' }))).toBeUndefined();
    expect(
      cgroupMemoryLimit(
        files({ '/sys/fs/cgroup/memory/memory.limit_in_bytes': '9223372036854771712\n' }),
      ),
    ).toBeUndefined();
    expect(
      cgroupMemoryLimit(files({ '/sys/fs/cgroup/memory/memory.limit_in_bytes': '134217728' })),
    ).toBe(128 * MiB);
    expect(cgroupMemoryLimit(files({}))).toBeUndefined();
  });
});

describe('MemoryBudget', () => {
  it('keeps a floor for every account that a greedy account cannot take', () => {
    const budget = new MemoryBudget(1000);
    const greedy = budget.account();
    const quiet = budget.account();
    const floor = (FLOOR_SHARE * 1000) / 2;
    let taken = 0;
    while (greedy.tryReserve(25)) taken += 25;
    expect(taken).toBe(1000 - floor);
    expect(quiet.remaining).toBe(floor);
    expect(quiet.tryReserve(floor)).toBe(true);
    expect(quiet.tryReserve(1)).toBe(false);
    expect(budget.used).toBe(1000);
    greedy.release(100);
    expect(quiet.tryReserve(100)).toBe(true);
  });
});
