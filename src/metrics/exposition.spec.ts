import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RegisteredMetric } from './openmetrics';
import { renderExposition, LINES_PER_SLICE } from './exposition';
import { renderOpenMetrics } from './openmetrics';

/** The sample lines of an exposition, sorted (metric order and blank lines aside). */
const samplesOf = (text: string) =>
  text
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .sort();

function registry() {
  const reg = new Registry();
  const counter = new Counter({
    name: 'x_events_total',
    help: 'events \\ with\nnewline',
    labelNames: ['k'],
    registers: [reg],
  });
  counter.inc({ k: 'quote " backslash \\ newline \n' }, 2);
  counter.inc({ k: 'plain' }, 0.5);
  new Gauge({ name: 'x_gauge', help: 'g', registers: [reg] }).set(-Infinity);
  const histogram = new Histogram({
    name: 'x_seconds',
    help: 'h',
    labelNames: ['route'],
    buckets: [0.1, 1],
    registers: [reg],
  });
  histogram.observe({ route: 'a' }, 0.5);
  return reg;
}

const metricsOf = (reg: Registry) => reg.getMetricsAsArray() as unknown as RegisteredMetric[];

describe('renderExposition', () => {
  it('writes the same samples and metadata as prom-client, in the text format', async () => {
    const reg = registry();
    const { body } = await renderExposition(metricsOf(reg), false);
    const ours = body.toString('utf8');
    const theirs = await reg.metrics();
    expect(samplesOf(ours)).toEqual(samplesOf(theirs));
    expect(ours).toContain('# HELP x_events_total events \\\\ with\\nnewline\n');
    expect(ours).toContain('# TYPE x_events_total counter\n');
    expect(ours).toContain('x_gauge -Inf\n');
  });

  it('writes OpenMetrics as prom-client does (counter families without _total), ending in # EOF', async () => {
    const reg = registry();
    const { body } = await renderExposition(metricsOf(reg), true);
    const ours = body.toString('utf8');
    expect(samplesOf(ours)).toEqual(samplesOf(await renderOpenMetrics(reg)));
    expect(ours).toContain('# TYPE x_events counter\n');
    expect(ours.endsWith('# EOF\n')).toBe(true);
    // Nothing was renamed on the way.
    expect(await reg.metrics()).toContain('# TYPE x_events_total counter');
  });

  it('yields to the event loop between slices of a large metric', async () => {
    const reg = new Registry();
    const counter = new Counter({
      name: 'big_total',
      help: 'b',
      labelNames: ['i'],
      registers: [reg],
    });
    for (let i = 0; i < LINES_PER_SLICE * 3; i++) counter.inc({ i: String(i) });
    let immediates = 0;
    const counting = () => {
      immediates++;
      if (!done) setImmediate(counting);
    };
    let done = false;
    setImmediate(counting);
    const { body } = await renderExposition(metricsOf(reg), false);
    done = true;
    expect(samplesOf(body.toString('utf8'))).toHaveLength(LINES_PER_SLICE * 3);
    // Other work ran while the one metric was being written: at least once per slice.
    expect(immediates).toBeGreaterThanOrEqual(3);
  });
});
