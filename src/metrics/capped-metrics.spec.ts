import { Counter, Gauge, Registry } from 'prom-client';
import { CappedCounter, CappedGauge } from './capped-metrics';
import { SeriesGuard, type Labels } from './series-guard';

function setUp() {
  const clock = { ms: 0, now: () => clock.ms };
  const registry = new Registry();
  const ref: { counter?: CappedCounter<'k'> } = {};
  const metric = new Counter<'k'>({
    name: 'c_total',
    help: 'c',
    labelNames: ['k'],
    registers: [registry],
  });
  const guard = new SeriesGuard<'k'>(
    'c_total',
    ['k'],
    { maxSeries: 10, ttlMs: 1000, maxValueChars: 16 },
    clock,
    () => undefined,
    (labels: Labels<'k'>) => {
      ref.counter?.forget(labels);
      metric.remove(labels);
    },
  );
  const counter = new CappedCounter(metric, guard);
  ref.counter = counter;
  return { counter, metric, guard, clock, registry };
}

describe('CappedCounter', () => {
  it('sums updates per series and hands them to prom-client once per collect', async () => {
    const { counter, metric, registry } = setUp();
    const inc = jest.spyOn(metric, 'inc');
    for (let i = 0; i < 1000; i++) counter.inc({ k: i % 2 === 0 ? 'even' : 'odd' }, 2);
    expect(inc).not.toHaveBeenCalled();
    const text = await registry.metrics();
    expect(inc).toHaveBeenCalledTimes(2);
    expect(text).toContain('c_total{k="even"} 1000');
    expect(text).toContain('c_total{k="odd"} 1000');
    counter.inc({ k: 'even' });
    expect((await metric.get()).values).toContainEqual({ labels: { k: 'even' }, value: 1001 });
  });

  it('forgets what is pending for a series the TTL removed', async () => {
    const { counter, guard, clock, registry } = setUp();
    counter.inc({ k: 'old' }, 5);
    clock.ms += 1000;
    guard.sweep();
    expect(await registry.metrics()).not.toContain('old');
  });
});

describe('CappedGauge', () => {
  it('keeps the last value per series until collected', async () => {
    const registry = new Registry();
    const collected: string[] = [];
    const metric = new Gauge<'k'>({
      name: 'g',
      help: 'g',
      labelNames: ['k'],
      registers: [registry],
      // A collect hook of its own still runs, after the pending values are handed over.
      collect() {
        collected.push('own hook');
      },
    });
    const guard = new SeriesGuard<'k'>(
      'g',
      ['k'],
      { maxSeries: 10, ttlMs: 0, maxValueChars: 16 },
      { now: () => 0 },
      () => undefined,
      () => undefined,
    );
    const gauge = new CappedGauge(metric, guard);
    gauge.set({ k: 'a' }, 1);
    gauge.set({ k: 'a' }, 7);
    expect(await registry.metrics()).toContain('g{k="a"} 7');
    expect(collected).toEqual(['own hook']);
  });
});
