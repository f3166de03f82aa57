import { ConfigService } from '@nestjs/config';
import { parseConfig, type AppConfig } from '../config/config.schema';
import { ReportRejected } from '../ingest/report-rejected.exception';
import { MetricsService } from '../metrics/metrics.service';
import { ReportsMetrics } from '../reports/reports.metrics';
import { ReportsService } from '../reports/reports.service';
import { parsePrometheusText, sumSamples } from '../../test/support/prometheus-text';
import { IstioMetrics } from './istio.metrics';
import { IstioReports } from './istio-reports';
import {
  ENVOY_BUCKETS,
  ISTIO_LABELS,
  ISTIO_TCP_LABELS,
  type IstioLabel,
  type ReportV2,
  type TcpEntry,
} from './report-v2.types';

const histogram = (bucket: number): number[] =>
  new Array<number>(ENVOY_BUCKETS.length + 1).fill(0).map((_, i) => (i === bucket ? 1 : 0));

/** A v2 report with one entry per given dimension set (one request each). */
function report(
  seq: number,
  sets: Array<Partial<Record<IstioLabel, string>>>,
  pod = 'p-1',
): ReportV2 {
  const strings: string[] = [];
  const at = (s: string) => {
    const i = strings.indexOf(s);
    return i >= 0 ? i : strings.push(s) - 1;
  };
  return {
    v: 2,
    reporter: { id: '0123456789abcdef', seq },
    source: { workload: 'productpage-v1', namespace: 'bookinfo', pod },
    window: { start_ms: 1_700_000_000_000, end_ms: 1_700_000_005_000 },
    buckets: [...ENVOY_BUCKETS],
    strings,
    http: sets.map((set) => ({
      d: ISTIO_LABELS.map((name) => at(set[name] ?? `${name}-x`)),
      n: 1,
      duration_ms: histogram(3),
      duration_sum_ms: 7.5,
      request_bytes: histogram(7),
      request_bytes_sum: 200,
      response_bytes: histogram(9),
      response_bytes_sum: 900,
    })),
  };
}

/** A v2 report with TCP entries only (one connection each, opened and closed). */
function tcpReport(seq: number, sets: Array<Partial<Record<IstioLabel, string>>>): ReportV2 {
  const r = report(seq, []);
  const at = (s: string) => {
    const i = r.strings.indexOf(s);
    return i >= 0 ? i : r.strings.push(s) - 1;
  };
  r.tcp = sets.map((set) => ({
    d: ISTIO_TCP_LABELS.map((name) => at(set[name] ?? `${name}-x`)),
    opened: 1,
    closed: 1,
    received_bytes: 120,
    sent_bytes: 4000,
  }));
  return r;
}

const tcpOf = (r: ReportV2): TcpEntry[] => r.tcp ?? [];

function setUp(env: Record<string, string> = {}) {
  const clock = { ms: 1_700_000_000_000, now: () => clock.ms };
  const config = new ConfigService<AppConfig, true>(parseConfig(env));
  const metrics = new MetricsService(config, clock);
  const service = new ReportsService(new ReportsMetrics(metrics), metrics, config, clock);
  new IstioReports(service, new IstioMetrics(metrics, config)).onModuleInit();
  const send = (body: unknown) => service.accept(Buffer.from(JSON.stringify(body)), clock.now());
  const samples = async () => parsePrometheusText((await metrics.render(false)).body);
  return { metrics, send, samples };
}

describe('IstioReports (report v2)', () => {
  let current: ReturnType<typeof setUp> | undefined;
  afterEach(() => current?.metrics.onModuleDestroy());

  it('applies a v2 report once, with all 25 labels and no pod', async () => {
    current = setUp();
    const { send, samples } = current;
    expect(send(report(1, [{ response_code: '200' }, { response_code: '503' }]))).toMatchObject({
      counts: 2,
      requests: 2,
      duplicate: false,
    });
    expect(send(report(1, [{ response_code: '200' }]))).toMatchObject({ duplicate: true });
    const s = await samples();
    const series = s.filter((x) => x.name === 'istio_requests_total');
    expect(series).toHaveLength(2);
    expect(Object.keys(series[0].labels)).toHaveLength(25);
    expect(sumSamples(s, 'istio_requests_total', { response_code: '503' })).toBe(1);
    expect(sumSamples(s, 'istio_request_duration_milliseconds_bucket', { le: '10' })).toBe(2);
    expect(sumSamples(s, 'istio_request_duration_milliseconds_bucket', { le: '5' })).toBe(0);
    expect(sumSamples(s, 'istio_request_bytes_sum')).toBe(400);
    expect(sumSamples(s, 'istio_response_bytes_bucket', { le: '1000' })).toBe(2);
    expect(sumSamples(s, 'mesha_duplicate_reports_total')).toBe(1);
  });

  it('N pods of a workload add into one series', async () => {
    current = setUp();
    const { send, samples } = current;
    send(report(1, [{}], 'p-1'));
    send({ ...report(1, [{}], 'p-2'), reporter: { id: 'fedcba9876543210', seq: 1 } });
    const s = await samples();
    expect(s.filter((x) => x.name === 'istio_requests_total')).toHaveLength(1);
    expect(sumSamples(s, 'istio_requests_total')).toBe(2);
  });

  it('ISTIO_TAGS_TO_REMOVE aggregates those labels away', async () => {
    current = setUp({ ISTIO_TAGS_TO_REMOVE: 'source_principal, destination_principal' });
    const { send, samples } = current;
    send(report(1, [{ source_principal: 'a' }, { source_principal: 'b' }]));
    const s = await samples();
    const series = s.filter((x) => x.name === 'istio_requests_total');
    expect(series).toHaveLength(1);
    expect(series[0].value).toBe(2);
    expect(Object.keys(series[0].labels)).not.toContain('source_principal');
    expect(sumSamples(s, 'istio_request_duration_milliseconds_count')).toBe(2);
  });

  it('refuses an unknown label in ISTIO_TAGS_TO_REMOVE at start-up', () => {
    expect(() => parseConfig({ ISTIO_TAGS_TO_REMOVE: 'pod' })).toThrow(/ISTIO_TAGS_TO_REMOVE/);
  });

  it('keeps to MAX_SERIES: further label sets go to __overflow__', async () => {
    current = setUp({ MAX_SERIES: '2' });
    const { send, samples } = current;
    send(report(1, [{ response_code: '200' }, { response_code: '201' }, { response_code: '202' }]));
    const s = await samples();
    expect(s.filter((x) => x.name === 'istio_requests_total')).toHaveLength(3);
    expect(sumSamples(s, 'istio_requests_total', { response_code: '__overflow__' })).toBe(1);
    expect(sumSamples(s, 'mesha_series_dropped_total', { metric: 'istio_requests_total' })).toBe(1);
  });

  it('applies TCP entries once to the four istio_tcp_* counters, with the 23 TCP labels', async () => {
    current = setUp();
    const { send, samples } = current;
    const r = tcpReport(1, [{ source_workload: 'a' }, { source_workload: 'b' }]);
    expect(send(r)).toMatchObject({ counts: 2, duplicate: false });
    expect(send(r)).toMatchObject({ duplicate: true });
    const s = await samples();
    const opened = s.filter((x) => x.name === 'istio_tcp_connections_opened_total');
    expect(opened).toHaveLength(2);
    expect(Object.keys(opened[0].labels).sort()).toEqual([...ISTIO_TCP_LABELS].sort());
    expect(opened[0].labels).not.toHaveProperty('response_code');
    expect(sumSamples(s, 'istio_tcp_connections_opened_total')).toBe(2);
    expect(sumSamples(s, 'istio_tcp_connections_closed_total', { source_workload: 'a' })).toBe(1);
    expect(sumSamples(s, 'istio_tcp_received_bytes_total')).toBe(240);
    expect(sumSamples(s, 'istio_tcp_sent_bytes_total')).toBe(8000);
    expect(sumSamples(s, 'istio_requests_total')).toBe(0);
  });

  it('TCP: N pods add into one series, ISTIO_TAGS_TO_REMOVE applies, MAX_SERIES holds', async () => {
    current = setUp({ ISTIO_TAGS_TO_REMOVE: 'source_principal', MAX_SERIES: '2' });
    const { send, samples } = current;
    send(tcpReport(1, [{ source_principal: 'p' }, { source_principal: 'q' }]));
    send({
      ...tcpReport(1, [{ source_workload: 'c' }, { source_workload: 'd' }]),
      reporter: { id: 'fedcba9876543210', seq: 1 },
    });
    const s = await samples();
    const sent = s.filter((x) => x.name === 'istio_tcp_sent_bytes_total');
    expect(sent[0].labels).not.toHaveProperty('source_principal');
    // p and q add into one series; c takes the second slot; d goes to __overflow__.
    expect(sent).toHaveLength(3);
    expect(
      sumSamples(s, 'istio_tcp_sent_bytes_total', { source_workload: 'source_workload-x' }),
    ).toBe(8000);
    expect(sumSamples(s, 'istio_tcp_sent_bytes_total', { source_workload: '__overflow__' })).toBe(
      4000,
    );
  });

  it.each([
    ['a TCP index past the strings', (r: ReportV2) => (tcpOf(r)[0].d[3] = 99), '/tcp/0/d/3'],
    ['25 TCP dimensions', (r: ReportV2) => tcpOf(r)[0].d.push(0, 0), '/tcp/0/d'],
    ['a negative byte count', (r: ReportV2) => (tcpOf(r)[0].sent_bytes = -1), '/tcp/0/sent_bytes'],
    ['an unknown TCP field', (r: ReportV2) => Object.assign(tcpOf(r)[0], { n: 1 }), "'n'"],
    [
      'more than 1024 entries of both kinds',
      (r: ReportV2) => {
        r.tcp = new Array<TcpEntry>(600).fill(tcpOf(r)[0]);
        r.http = new Array<ReportV2['http'][number]>(500).fill({
          ...report(1, [{}]).http[0],
          d: ISTIO_LABELS.map(() => 0),
        });
      },
      '/tcp: must have at most 1024 entries',
    ],
  ])('refuses %s with a 400 naming the field, applying nothing', async (_, spoil, field) => {
    current = setUp();
    const { send, samples } = current;
    const bad = tcpReport(1, [{}, {}]);
    spoil(bad);
    let error: unknown;
    try {
      send(bad);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ReportRejected);
    expect((error as ReportRejected).message).toContain(field);
    expect(sumSamples(await samples(), 'istio_tcp_connections_opened_total')).toBe(0);
  });

  it.each([
    ['an index past the strings', (r: ReportV2) => (r.http[0].d[4] = 99), '/http/0/d/4'],
    ['a histogram not adding up to n', (r: ReportV2) => (r.http[0].n = 2), '/http/0/duration_ms'],
    ['wrong buckets', (r: ReportV2) => (r.buckets = [1]), '/buckets'],
    ['24 dimensions', (r: ReportV2) => r.http[0].d.pop(), '/http/0/d'],
    ['an unknown field', (r: ReportV2) => Object.assign(r.http[0], { pod: 'x' }), "'pod'"],
  ])('refuses %s with a 400 naming the field, applying nothing', async (_, spoil, field) => {
    current = setUp();
    const { send, samples } = current;
    const bad = report(1, [{}, {}]);
    spoil(bad);
    let error: unknown;
    try {
      send(bad);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ReportRejected);
    expect((error as ReportRejected).message).toContain(field);
    expect(sumSamples(await samples(), 'istio_requests_total')).toBe(0);
  });
});
