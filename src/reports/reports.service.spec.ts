import { ConfigService } from '@nestjs/config';
import { parseConfig, type AppConfig } from '../config/config.schema';
import { ReportRejected } from '../ingest/report-rejected.exception';
import { MetricsService } from '../metrics/metrics.service';
import { parsePrometheusText, sumSamples } from '../../test/support/prometheus-text';
import { validReport } from '../../test/support/report-fixture';
import { ReportsMetrics } from './reports.metrics';
import { ReportsService } from './reports.service';
import type { ReportV1 } from './report.types';

function setUp(env: Record<string, string> = {}) {
  const clock = { ms: 1_700_000_000_000, now: () => clock.ms };
  const config = new ConfigService<AppConfig, true>(parseConfig(env));
  const metrics = new MetricsService(config, clock);
  const service = new ReportsService(new ReportsMetrics(metrics), metrics, config, clock);
  const send = (report: ReportV1 | string) =>
    service.accept(
      Buffer.from(typeof report === 'string' ? report : JSON.stringify(report)),
      clock.now(),
    );
  const samples = async () => parsePrometheusText((await metrics.render(false)).body);
  return { clock, metrics, service, send, samples };
}

const OBSERVED = {
  source_workload: 'shop',
  source_namespace: 'default',
  method: 'GET',
  code: '2xx',
  route: 'api',
};

describe('ReportsService', () => {
  let current: ReturnType<typeof setUp> | undefined;
  afterEach(() => current?.metrics.onModuleDestroy());

  it('applies a report once; a re-send is acknowledged and not counted', async () => {
    current = setUp();
    const { send, samples } = current;
    expect(send(validReport())).toMatchObject({ seq: 1, counts: 1, requests: 3, duplicate: false });
    expect(send(validReport())).toMatchObject({ duplicate: true });
    send(validReport({ reporter: { id: '0123456789abcdef', seq: 2 } }));
    const s = await samples();
    expect(sumSamples(s, 'mesha_observed_requests_total', OBSERVED)).toBe(6);
    expect(sumSamples(s, 'mesha_duplicate_reports_total')).toBe(1);
    expect(sumSamples(s, 'mesha_observed_bytes_total', { ...OBSERVED, direction: 'out' })).toBe(
      1800,
    );
    expect(sumSamples(s, 'mesha_observed_bytes_total', { direction: 'in' })).toBe(0);
    expect(sumSamples(s, 'mesha_reporters')).toBe(1);
  });

  it('renders the reported buckets as a cumulative histogram in seconds', async () => {
    current = setUp();
    const { send, samples } = current;
    send(validReport());
    send(validReport({ reporter: { id: '0123456789abcdef', seq: 2 } }));
    const s = await samples();
    const bucket = (le: string) =>
      sumSamples(s, 'mesha_observed_request_duration_seconds_bucket', { ...OBSERVED, le });
    expect([
      bucket('0.005'),
      bucket('0.01'),
      bucket('0.025'),
      bucket('10'),
      bucket('+Inf'),
    ]).toEqual([2, 4, 4, 4, 6]);
    expect(sumSamples(s, 'mesha_observed_request_duration_seconds_count', OBSERVED)).toBe(6);
    expect(sumSamples(s, 'mesha_observed_request_duration_seconds_sum', OBSERVED)).toBe(24);
  });

  it('changes nothing for a refused report', async () => {
    current = setUp();
    const { send, samples } = current;
    const before = (await samples()).filter((x) => x.name.startsWith('mesha_observed'));
    const bad = validReport();
    bad.counts.push({ ...bad.counts[0], n: 99 });
    expect(() => send(bad)).toThrow(ReportRejected);
    expect(() => send('{"v":1,')).toThrow(/not valid JSON/);
    expect((await samples()).filter((x) => x.name.startsWith('mesha_observed'))).toEqual(before);
    // A refused report does not burn its seq: the corrected one is applied.
    expect(send(validReport()).duplicate).toBe(false);
  });

  it('caps observed label sets at MAX_SERIES, the histogram included', async () => {
    // One workload here: the fairness share (SERIES_SOURCE_SHARE) would stop it at 1 of 2.
    current = setUp({ MAX_SERIES: '2', SERIES_SOURCE_SHARE: '1' });
    const { send, samples } = current;
    const counts = ['a', 'b', 'c', 'd'].map((route) => ({ ...validReport().counts[0], route }));
    send(validReport({ counts }));
    const s = await samples();
    const routes = (name: string) =>
      s.filter((x) => x.name === name).map((x) => [x.labels.route, x.value]);
    expect(routes('mesha_observed_requests_total')).toEqual([
      ['a', 3],
      ['b', 3],
      ['__overflow__', 6],
    ]);
    expect(routes('mesha_observed_request_duration_seconds_count')).toEqual(
      routes('mesha_observed_requests_total'),
    );
    expect(
      sumSamples(s, 'mesha_series_dropped_total', {
        metric: 'mesha_observed_request_duration_seconds',
      }),
    ).toBe(2);
  });

  it('expires idle series and reporters with SERIES_TTL_SECONDS', async () => {
    // The live window matches the TTL here, so mesha_reporters and the dedupe memory agree.
    current = setUp({ SERIES_TTL_SECONDS: '30', REPORTER_LIVE_SECONDS: '30' });
    const { send, samples, clock } = current;
    send(validReport());
    clock.ms += 20_000;
    send(validReport({ reporter: { id: 'fedcba9876543210', seq: 1 }, counts: [] }));
    clock.ms += 10_000;
    let s = await samples();
    expect(s.filter((x) => x.name.startsWith('mesha_observed'))).toEqual([]);
    expect(sumSamples(s, 'mesha_reporters')).toBe(1);
    expect(s.filter((x) => x.name === 'mesha_reporter_last_seen_timestamp_seconds')).toHaveLength(
      1,
    );
    clock.ms += 20_000;
    s = await samples();
    expect(sumSamples(s, 'mesha_reporters')).toBe(0);
    // The expired reporter is forgotten: its seq 1 is new again (a restarted mesha would agree).
    expect(send(validReport()).duplicate).toBe(false);
  });

  it('counts live reporters only: seen within REPORTER_LIVE_SECONDS, even with no TTL', async () => {
    current = setUp(); // SERIES_TTL_SECONDS=0, REPORTER_LIVE_SECONDS=60
    const { send, samples, clock } = current;
    const reporter = (id: string, seq = 1) => validReport({ reporter: { id, seq }, counts: [] });
    // A sidecar restarted twice: three random ids, one after the other.
    send(reporter('aaaaaaaaaaaaaaaa'));
    clock.ms += 40_000;
    send(reporter('bbbbbbbbbbbbbbbb'));
    expect(sumSamples(await samples(), 'mesha_reporters')).toBe(2);
    clock.ms += 20_000; // aaaa was seen 60 s ago
    send(reporter('cccccccccccccccc'));
    expect(sumSamples(await samples(), 'mesha_reporters')).toBe(2);
    clock.ms += 40_000;
    send(reporter('cccccccccccccccc')); // a re-send keeps cccc alive
    expect(sumSamples(await samples(), 'mesha_reporters')).toBe(1);
    clock.ms += 60_000;
    expect(sumSamples(await samples(), 'mesha_reporters')).toBe(0);
    // Liveness is not the dedupe memory: with no TTL, aaaa's seq 1 is still known.
    expect(send(reporter('aaaaaaaaaaaaaaaa')).duplicate).toBe(true);
    expect(sumSamples(await samples(), 'mesha_reporters')).toBe(1);
  });

  it('does not count a refused report as a sign of life', async () => {
    current = setUp();
    const { send, samples } = current;
    const bad = validReport({ reporter: { id: 'dddddddddddddddd', seq: 1 } });
    bad.counts[0].n = 99;
    expect(() => send(bad)).toThrow(ReportRejected);
    expect(sumSamples(await samples(), 'mesha_reporters')).toBe(0);
  });
});
