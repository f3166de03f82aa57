import { ConfigService } from '@nestjs/config';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PinoLogger } from 'nestjs-pino';
import { parseConfig, type AppConfig } from '../config/config.schema';
import { MetricsService } from '../metrics/metrics.service';
import { ReportsMetrics } from '../reports/reports.metrics';
import { ReportsService } from '../reports/reports.service';
import { StateService } from '../state/state.service';
import { parsePrometheusText, sumSamples } from '../../test/support/prometheus-text';
import { IstioMetrics } from './istio.metrics';
import { IstioReports } from './istio-reports';
import { ENVOY_BUCKETS, ISTIO_LABELS, type ReportV2 } from './report-v2.types';

const quiet = { info: () => undefined, warn: () => undefined } as unknown as PinoLogger;
const slot = (k: number, n: number) =>
  Array.from({ length: ENVOY_BUCKETS.length + 1 }, (_, i) => (i === k ? n : 0));

function report(seq: number, code: string, n: number): ReportV2 {
  const strings = ISTIO_LABELS.map((name) => (name === 'response_code' ? code : `${name}-v`));
  return {
    v: 2,
    reporter: { id: '0123456789abcdef', seq },
    source: { workload: 'productpage-v1', namespace: 'bookinfo', pod: 'p-1' },
    window: { start_ms: 0, end_ms: 5_000 },
    buckets: [...ENVOY_BUCKETS],
    strings,
    http: [
      {
        d: ISTIO_LABELS.map((_, i) => i),
        n,
        duration_ms: slot(2, n),
        duration_sum_ms: 2.5 * n,
        request_bytes: slot(5, n),
        request_bytes_sum: 100 * n,
        response_bytes: slot(6, n),
        response_bytes_sum: 300 * n,
      },
    ],
  };
}

/** mesha's reports and istio features over a STATE_DIR, as the app wires them. */
async function open(dir: string, env: Record<string, string> = {}) {
  const clock = { now: () => 1_700_000_000_000 };
  const config = new ConfigService<AppConfig, true>(parseConfig({ STATE_DIR: dir, ...env }));
  const metrics = new MetricsService(config, clock);
  const state = new StateService(config, quiet, metrics, clock);
  const service = new ReportsService(new ReportsMetrics(metrics), metrics, config, clock, state);
  new IstioReports(service, new IstioMetrics(metrics, config)).onModuleInit();
  const send = async (r: ReportV2) => {
    const summary = service.accept(Buffer.from(JSON.stringify(r)), clock.now());
    await state.durable();
    return summary.duplicate;
  };
  const sample = async (name: string, labels: Record<string, string> = {}) =>
    sumSamples(parsePrometheusText((await metrics.render(false)).body), name, labels);
  const close = async () => {
    await state.onApplicationShutdown();
    metrics.onModuleDestroy();
  };
  return { send, sample, close };
}

describe('v2 reports under STATE_DIR (istio_* kept across a restart)', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'mesha-istio-state-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('a restart serves the same istio_* values and still knows which v2 reports were applied', async () => {
    const first = await open(dir);
    expect(await first.send(report(1, '200', 3))).toBe(false);
    expect(await first.send(report(2, '503', 1))).toBe(false);
    expect(await first.send(report(3, '200', 2))).toBe(false);
    const before = {
      requests: await first.sample('istio_requests_total'),
      ok: await first.sample('istio_requests_total', { response_code: '200' }),
      durationSum: await first.sample('istio_request_duration_milliseconds_sum'),
      bucket: await first.sample('istio_request_duration_milliseconds_bucket', {
        le: String(ENVOY_BUCKETS[2]),
      }),
      responseBytes: await first.sample('istio_response_bytes_sum'),
    };
    expect(before).toEqual({ requests: 6, ok: 5, durationSum: 15, bucket: 6, responseBytes: 1800 });
    await first.close();

    for (let restart = 0; restart < 2; restart++) {
      const again = await open(dir);
      expect({
        requests: await again.sample('istio_requests_total'),
        ok: await again.sample('istio_requests_total', { response_code: '200' }),
        durationSum: await again.sample('istio_request_duration_milliseconds_sum'),
        bucket: await again.sample('istio_request_duration_milliseconds_bucket', {
          le: String(ENVOY_BUCKETS[2]),
        }),
        responseBytes: await again.sample('istio_response_bytes_sum'),
      }).toEqual(before);
      expect(await again.send(report(2, '503', 1))).toBe(true); // a re-send: not counted again
      expect(await again.sample('istio_requests_total')).toBe(6);
      await again.close();
    }
  });

  it('restores through ISTIO_TAGS_TO_REMOVE as it is at the restart', async () => {
    const first = await open(dir);
    await first.send(report(1, '200', 3));
    await first.send(report(2, '503', 1));
    await first.close();
    const again = await open(dir, { ISTIO_TAGS_TO_REMOVE: 'response_code' });
    expect(await again.sample('istio_requests_total')).toBe(4);
    expect(await again.sample('istio_requests_total', { response_code: '200' })).toBe(0);
    await again.close();
  });
});
