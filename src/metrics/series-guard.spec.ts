import { MemoryBudget } from './memory-budget';
import {
  cutLabelValue,
  OVERFLOW,
  seriesCost,
  SeriesGuard,
  type Labels,
  type SeriesLimits,
} from './series-guard';

class TestClock {
  ms = 1_000_000;
  now = () => this.ms;
}

function makeGuard(limits: Partial<SeriesLimits> = {}) {
  const clock = new TestClock();
  const dropped: string[] = [];
  const expired: Array<Labels<'a' | 'b'>> = [];
  const guard = new SeriesGuard<'a' | 'b'>(
    'm',
    ['a', 'b'],
    { maxSeries: 3, ttlMs: 0, maxValueChars: 8, ...limits },
    clock,
    (metric) => dropped.push(metric),
    (labels) => expired.push({ ...labels }),
  );
  return { guard, clock, dropped, expired };
}

describe('SeriesGuard', () => {
  it('keeps up to maxSeries label sets, then sends new sets to the overflow series', () => {
    const { guard, dropped } = makeGuard();
    for (const a of ['1', '2', '3']) expect(guard.admit({ a, b: 'x' })).toEqual({ a, b: 'x' });
    expect(guard.admit({ a: '4', b: 'x' })).toEqual({ a: OVERFLOW, b: OVERFLOW });
    expect(guard.admit({ a: '5', b: 'x' })).toEqual({ a: OVERFLOW, b: OVERFLOW });
    expect(dropped).toEqual(['m', 'm']);
    // Known sets still land in their own series once the cap is reached.
    expect(guard.admit({ a: '2', b: 'x' })).toEqual({ a: '2', b: 'x' });
    expect(guard.size).toBe(4);
  });

  it('tells label sets apart even when values contain separators', () => {
    const { guard } = makeGuard({ maxSeries: 2 });
    guard.admit({ a: 'x,y', b: 'z' });
    expect(guard.admit({ a: 'x', b: 'y,z' })).toEqual({ a: 'x', b: 'y,z' });
  });

  it('cuts long label values and treats the cut value as the series', () => {
    const { guard } = makeGuard({ maxSeries: 1 });
    expect(guard.admit({ a: 'abcdefghijkl', b: 'b' })).toEqual({ a: 'abcdefgh', b: 'b' });
    expect(guard.admit({ a: 'abcdefghXYZ', b: 'b' })).toEqual({ a: 'abcdefgh', b: 'b' });
  });

  it('never leaves half a surrogate pair at the cut', () => {
    expect(cutLabelValue('abc😀', 4)).toBe('abc');
    expect(cutLabelValue('ab😀', 4)).toBe('ab😀');
  });

  it('removes series idle for the TTL, and only those', () => {
    const { guard, clock, expired } = makeGuard({ ttlMs: 60_000 });
    guard.admit({ a: 'old', b: '' });
    clock.ms += 30_000;
    guard.admit({ a: 'young', b: '' });
    clock.ms += 29_999;
    expect(guard.sweep()).toBe(0);
    clock.ms += 1;
    expect(guard.sweep()).toBe(1);
    expect(expired).toEqual([{ a: 'old', b: '' }]);
    expect(guard.size).toBe(1);
    clock.ms += 30_000;
    guard.sweep();
    expect(expired.map((l) => l.a)).toEqual(['old', 'young']);
    expect(guard.size).toBe(0);
  });

  it('an update refreshes the TTL, and expiry frees room under the cap', () => {
    const { guard, clock, dropped } = makeGuard({ ttlMs: 1000, maxSeries: 1 });
    guard.admit({ a: '1', b: '' });
    clock.ms += 900;
    guard.admit({ a: '1', b: '' });
    clock.ms += 900;
    guard.sweep();
    expect(guard.size).toBe(1);
    expect(guard.admit({ a: '2', b: '' })).toEqual({ a: OVERFLOW, b: OVERFLOW });
    clock.ms += 1000;
    guard.sweep();
    expect(guard.size).toBe(0);
    expect(guard.admit({ a: '2', b: '' })).toEqual({ a: '2', b: '' });
    expect(dropped).toHaveLength(1);
  });

  it('with TTL 0 nothing ever expires', () => {
    const { guard, clock } = makeGuard({ ttlMs: 0 });
    guard.admit({ a: '1', b: '' });
    clock.ms += 10 ** 12;
    expect(guard.sweep()).toBe(0);
    expect(guard.size).toBe(1);
  });

  it('treats __proto__ and constructor as ordinary values', () => {
    const { guard } = makeGuard({ maxValueChars: 32 });
    expect(guard.admit({ a: '__proto__', b: 'constructor' })).toEqual({
      a: '__proto__',
      b: 'constructor',
    });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('SeriesGuard with a memory budget and a source share', () => {
  function guardWith(options: { budgetBytes?: number; sourceShare?: number; maxSeries?: number }) {
    const clock = new TestClock();
    const budget = new MemoryBudget(options.budgetBytes ?? 10 ** 9);
    const dropped: string[] = [];
    const guard = new SeriesGuard<'workload' | 'route'>(
      'm',
      ['workload', 'route'],
      { maxSeries: options.maxSeries ?? 100, ttlMs: 1000, maxValueChars: 128 },
      clock,
      (metric) => dropped.push(metric),
      () => undefined,
      {
        budget: budget.account(),
        sourceLabels: ['workload'],
        sourceShare: options.sourceShare ?? 1,
      },
    );
    return { guard, budget, clock, dropped };
  }

  it('admits new label sets while their estimated cost fits, then sends them to overflow', () => {
    const cost = seriesCost('m', { workload: 'w', route: 'r0' }, 1);
    // The only account: its floor is FLOOR_SHARE of the budget, the pool the rest.
    const { guard, budget, dropped } = guardWith({ budgetBytes: cost * 3 + 10 });
    for (const route of ['r0', 'r1', 'r2']) {
      expect(guard.admit({ workload: 'w', route })).toEqual({ workload: 'w', route });
    }
    expect(guard.admit({ workload: 'w', route: 'r3' })).toEqual({
      workload: OVERFLOW,
      route: OVERFLOW,
    });
    expect(guard.droppedByReason.memory_budget).toBe(1);
    expect(dropped).toEqual(['m']);
    expect(budget.used).toBe(guard.costBytes);
    expect(guard.limit).toBe(3);
  });

  it('charges long label values and histograms more, and frees the bytes on expiry', () => {
    expect(seriesCost('m', { a: 'x'.repeat(128) }, 1)).toBeGreaterThan(
      seriesCost('m', { a: 'x' }, 1),
    );
    expect(seriesCost('m', { a: 'x' }, 14)).toBeGreaterThan(2 * seriesCost('m', { a: 'x' }, 1));
    const { guard, budget, clock } = guardWith({});
    guard.admit({ workload: 'w', route: 'r' });
    expect(budget.used).toBeGreaterThan(0);
    clock.ms += 1000;
    guard.sweep();
    expect(budget.used).toBe(0);
  });

  it('gives one source at most its share of MAX_SERIES; other sources still get theirs', () => {
    const { guard } = guardWith({ maxSeries: 10, sourceShare: 0.3 });
    for (const route of ['a', 'b', 'c']) guard.admit({ workload: 'greedy', route });
    expect(guard.admit({ workload: 'greedy', route: 'd' }).workload).toBe(OVERFLOW);
    expect(guard.droppedByReason.source_share).toBe(1);
    expect(guard.admit({ workload: 'other', route: 'd' })).toEqual({
      workload: 'other',
      route: 'd',
    });
    // A known series of the greedy source still lands in its own series.
    expect(guard.admit({ workload: 'greedy', route: 'a' }).workload).toBe('greedy');
  });

  it('frees a source share when its series expire', () => {
    const { guard, clock } = guardWith({ maxSeries: 10, sourceShare: 0.1 });
    guard.admit({ workload: 'w', route: 'a' });
    expect(guard.admit({ workload: 'w', route: 'b' }).workload).toBe(OVERFLOW);
    clock.ms += 1000;
    guard.sweep();
    expect(guard.admit({ workload: 'w', route: 'b' }).workload).toBe('w');
  });
});
