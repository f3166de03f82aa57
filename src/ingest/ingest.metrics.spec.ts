import { ConfigService } from '@nestjs/config';
import { parseConfig, type AppConfig } from '../config/config.schema';
import { MetricsService } from '../metrics/metrics.service';
import { IngestMetrics } from './ingest.metrics';
import type { TextReport } from './wasm-callback.request';
import { parsePrometheusText, sumSamples } from '../../test/support/prometheus-text';

function setUp(env: Record<string, string>) {
  const clock = { ms: 1_700_000_000_000, now: () => clock.ms };
  const config = new ConfigService<AppConfig, true>(parseConfig(env));
  const metrics = new MetricsService(config, clock);
  const ingest = new IngestMetrics(metrics, config);
  const report = (msg: string, params: Array<[string, string]> = []): TextReport => ({
    receivedAtMs: clock.now(),
    params,
    melonMsg: msg,
    body: Buffer.from('body'),
    remoteAddress: '127.0.0.1',
  });
  const samples = async () => parsePrometheusText((await metrics.render(false)).body);
  return { clock, metrics, ingest, report, samples };
}

describe('IngestMetrics', () => {
  let current: ReturnType<typeof setUp> | undefined;
  afterEach(() => current?.metrics.onModuleDestroy());

  it('counts reports by msg, with the time of the last one', async () => {
    current = setUp({});
    const { ingest, report, samples, clock } = current;
    ingest.accepted(report('a'));
    clock.ms += 1500;
    ingest.accepted(report('a'));
    ingest.accepted(report('b'));
    const s = await samples();
    expect(sumSamples(s, 'mesha_reports_total', { msg: 'a' })).toBe(2);
    expect(sumSamples(s, 'mesha_reports_total', { msg: 'b' })).toBe(1);
    expect(sumSamples(s, 'mesha_report_last_received_timestamp_seconds', { msg: 'a' })).toBe(
      1_700_000_001.5,
    );
    expect(sumSamples(s, 'mesha_report_body_bytes_count')).toBe(3);
    expect(sumSamples(s, 'mesha_report_body_bytes_sum')).toBe(12);
  });

  it('turns only the PARAM_LABELS keys into labels, every value of a repeated key', async () => {
    current = setUp({ PARAM_LABELS: 'app,zone' });
    const { ingest, report, samples } = current;
    ingest.accepted(
      report('m', [
        ['app', 'shop'],
        ['user', 'u1'],
        ['zone', 'z1'],
        ['zone', 'z2'],
        ['__proto__', 'x'],
      ]),
    );
    const s = (await samples()).filter((x) => x.name === 'mesha_report_params_total');
    expect(s.map((x) => `${x.labels.key}=${x.labels.value} ${x.value}`).sort()).toEqual([
      'app=shop 1',
      'zone=z1 1',
      'zone=z2 1',
    ]);
  });

  it('with no PARAM_LABELS, no parameter becomes a label', async () => {
    current = setUp({});
    const { ingest, report, samples } = current;
    ingest.accepted(report('m', [['app', 'shop']]));
    expect(sumSamples(await samples(), 'mesha_report_params_total')).toBe(0);
  });

  it('caps msg series at MAX_SERIES, counting the rest into __overflow__ and series_dropped', async () => {
    current = setUp({ MAX_SERIES: '2' });
    const { ingest, report, samples } = current;
    for (const msg of ['a', 'b', 'c', 'd', 'a']) ingest.accepted(report(msg));
    const s = await samples();
    const reports = s.filter((x) => x.name === 'mesha_reports_total');
    expect(reports.map((x) => [x.labels.msg, x.value])).toEqual([
      ['a', 2],
      ['b', 1],
      ['__overflow__', 2],
    ]);
    expect(sumSamples(s, 'mesha_series_dropped_total', { metric: 'mesha_reports_total' })).toBe(2);
    // The last-received gauge is capped the same way.
    expect(s.filter((x) => x.name === 'mesha_report_last_received_timestamp_seconds')).toHaveLength(
      3,
    );
  });

  it('cuts long label values to LABEL_VALUE_MAX_CHARS', async () => {
    current = setUp({ LABEL_VALUE_MAX_CHARS: '5' });
    const { ingest, report, samples } = current;
    ingest.accepted(report('abcdefgh'));
    expect(sumSamples(await samples(), 'mesha_reports_total', { msg: 'abcde' })).toBe(1);
  });

  it('removes series idle for SERIES_TTL_SECONDS when rendering', async () => {
    current = setUp({ SERIES_TTL_SECONDS: '60' });
    const { ingest, report, samples, clock } = current;
    ingest.accepted(report('old'));
    clock.ms += 45_000;
    ingest.accepted(report('new'));
    clock.ms += 15_000;
    let s = await samples();
    expect(s.filter((x) => x.name === 'mesha_reports_total').map((x) => x.labels.msg)).toEqual([
      'new',
    ]);
    expect(s.filter((x) => x.name === 'mesha_report_last_received_timestamp_seconds')).toHaveLength(
      1,
    );
    clock.ms += 45_000;
    s = await samples();
    expect(s.filter((x) => x.name === 'mesha_reports_total')).toHaveLength(0);
    // A series that comes back starts again from zero.
    ingest.accepted(report('old'));
    expect(sumSamples(await samples(), 'mesha_reports_total', { msg: 'old' })).toBe(1);
  });
});
