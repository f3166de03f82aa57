import { Counter, Histogram, Registry } from 'prom-client';
import { prefersOpenMetrics, renderOpenMetrics } from './openmetrics';

describe('prefersOpenMetrics', () => {
  it.each([
    [undefined, false],
    ['', false],
    ['text/plain', false],
    ['*/*', false],
    ['application/openmetrics-text', true],
    [
      'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1',
      true,
    ],
    ['text/plain;version=0.0.4,application/openmetrics-text;q=0.5', false],
    ['application/openmetrics-text;q=0', false],
    ['application/openmetrics-text;q=abc', false],
  ])('Accept %p -> %p', (accept, expected) => {
    expect(prefersOpenMetrics(accept)).toBe(expected);
  });
});

describe('renderOpenMetrics', () => {
  it('renders OpenMetrics without renaming the metrics of the Prometheus-text registry', async () => {
    const registry = new Registry();
    const counter = new Counter({
      name: 'x_events_total',
      help: 'events',
      labelNames: ['k'],
      registers: [registry],
    });
    new Histogram({ name: 'x_seconds', help: 'durations', buckets: [1], registers: [registry] });
    counter.inc({ k: 'v' }, 2);

    const openMetrics = await renderOpenMetrics(registry);
    expect(openMetrics).toContain('# TYPE x_events counter\n');
    expect(openMetrics).toContain('x_events_total{k="v"} 2\n');
    expect(openMetrics).toContain('x_seconds_bucket{le="+Inf"} 0');
    expect(openMetrics.endsWith('# EOF\n')).toBe(true);

    const text = await registry.metrics();
    expect(text).toContain('# TYPE x_events_total counter\n');
    expect(text).toContain('x_events_total{k="v"} 2\n');
    expect(text).not.toContain('# EOF');
    // A second OpenMetrics render is identical: nothing was mutated by the first.
    expect(await renderOpenMetrics(registry)).toBe(openMetrics);
  });
});
