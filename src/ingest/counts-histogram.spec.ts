import { ConfigService } from '@nestjs/config';
import { Histogram, Registry } from 'prom-client';
import { parseConfig, type AppConfig } from '../config/config.schema';
import { MetricsService } from '../metrics/metrics.service';
import { BODY_BYTES_BUCKETS } from './body-bytes-buckets';
import { CountsHistogram } from './counts-histogram';

const linesOf = (text: string, name: string) =>
  text.split('\n').filter((line) => line.replace(/^# (HELP|TYPE) /, '').startsWith(name));

describe('CountsHistogram', () => {
  const values = [0, 1, 64, 65, 300, 5000, 5_000_000, 12];

  it('renders exactly as prom-client renders a Histogram of the same observations', async () => {
    const config = new ConfigService<AppConfig, true>(parseConfig({}));
    const metrics = new MetricsService(config, { now: () => 0 });
    const ours = new CountsHistogram('body_bytes', 'Body size', BODY_BYTES_BUCKETS);
    metrics.register(ours);
    const registry = new Registry();
    const theirs = new Histogram({
      name: 'body_bytes',
      help: 'Body size',
      buckets: [...BODY_BYTES_BUCKETS],
      registers: [registry],
    });
    for (const v of values) {
      ours.observe(v);
      theirs.observe(v);
    }
    const rendered = (await metrics.render(false)).body;
    expect(linesOf(rendered, 'body_bytes')).toHaveLength(2 + BODY_BYTES_BUCKETS.length + 3);
    expect(linesOf(rendered, 'body_bytes')).toEqual(
      linesOf(await registry.metrics(), 'body_bytes'),
    );
    metrics.onModuleDestroy();
  });

  it('adds restored counts to what it observes', () => {
    const a = new CountsHistogram('h', 'h', [10, 100]);
    a.observe(5);
    a.add([1, 2, 3], 1000);
    a.add([1, 2], 1); // other bounds: ignored
    const byName = Object.fromEntries(
      (
        a.get().values as Array<{
          metricName: string;
          labels: { le?: number | string };
          value: number;
        }>
      ).map((s) => [`${s.metricName}${s.labels.le ?? ''}`, s.value]),
    );
    expect(byName).toEqual({
      h_bucket10: 2,
      h_bucket100: 4,
      'h_bucket+Inf': 7,
      h_sum: 1005,
      h_count: 7,
    });
  });
});
