/**
 * The bench's baseline: Fastify alone doing mesha's per-report work (query parsing, the melonMsg
 * check, the one JSON log line, the capped counters) with the same helpers, but without NestJS.
 * Env: PORT, HOST. Logs go to stdout like mesha's.
 */
import Fastify from 'fastify';
import pino from 'pino';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { acceptAnyContentType } from '../../src/common/any-content-type';
import { pinoOptions } from '../../src/common/logger.options';
import { CappedCounter, CappedGauge } from '../../src/metrics/capped-metrics';
import { SeriesGuard } from '../../src/metrics/series-guard';
import { paramsObject, seedTime } from '../../src/ingest/report-log';
import { bodyOf, headerText, parseQuery } from '../../src/ingest/wasm-callback.request';

const ACK = 'receive wasm callback request status ok';
const limits = { maxSeries: 10_000, ttlMs: 0, maxValueChars: 128 };
const clock = { now: () => Date.now() };

const registry = new Registry();
const dropped = new Counter({
  name: 'dropped_total',
  help: 'h',
  labelNames: ['metric'],
  registers: [registry],
});
const capped = <L extends string>(
  name: string,
  labels: L[],
  remove: (l: Record<L, string>) => void,
) => new SeriesGuard<L>(name, labels, limits, clock, (metric) => dropped.inc({ metric }), remove);
const reportsMetric = new Counter({
  name: 'reports_total',
  help: 'h',
  labelNames: ['msg'],
  registers: [registry],
});
const reports = new CappedCounter(
  reportsMetric,
  capped('reports_total', ['msg'], (l) => reportsMetric.remove(l)),
);
const lastMetric = new Gauge({
  name: 'last_seconds',
  help: 'h',
  labelNames: ['msg'],
  registers: [registry],
});
const last = new CappedGauge(
  lastMetric,
  capped('last_seconds', ['msg'], (l) => lastMetric.remove(l)),
);
const bodyBytes = new Histogram({
  name: 'body_bytes',
  help: 'h',
  buckets: [0, 64, 1024],
  registers: [registry],
});
const duration = new Histogram({
  name: 'http_seconds',
  help: 'h',
  labelNames: ['method', 'route', 'status_code'],
  buckets: [0.001, 0.01, 0.1],
  registers: [registry],
});

const logger = pino(pinoOptions({ LOG_LEVEL: 'info', LOG_FORMAT: 'json' }));
const app = Fastify({ bodyLimit: 1024 * 1024 });
acceptAnyContentType(app);
app.addHook('onResponse', (request, reply, done) => {
  duration.observe(
    {
      method: request.method,
      route: request.routeOptions.url ?? 'unmatched',
      status_code: String(reply.statusCode),
    },
    reply.elapsedTime / 1000,
  );
  done();
});

app.post('/wasmCallback', (request, reply) => {
  const receivedAtMs = Date.now();
  const raw = request.headers['melonmsg'];
  const value = Array.isArray(raw) ? raw.join(', ') : raw;
  if (value === undefined || value.trim() === '') {
    return reply.code(400).send({ statusCode: 400, error: 'Bad Request', message: 'melonMsg' });
  }
  const melonMsg = headerText(value);
  const params = parseQuery(request.url);
  const body = bodyOf(request);
  const text = body.toString('utf8');
  logger.info(
    {
      event: 'report',
      receivedAt: new Date(receivedAtMs).toISOString(),
      date: seedTime(receivedAtMs),
      params: paramsObject(params),
      melonMsg,
      body: text.slice(0, 1024),
      bodyBytes: body.length,
      bodyTruncated: text.length > 1024,
      remoteAddress: request.ip,
    },
    'report accepted',
  );
  reports.inc({ msg: melonMsg });
  last.set({ msg: melonMsg }, receivedAtMs / 1000);
  bodyBytes.observe(body.length);
  return reply.type('text/plain; charset=utf-8').send(ACK);
});
app.get('/metrics', async (_request, reply) =>
  reply.type(registry.contentType).send(await registry.metrics()),
);
app.get('/readyz', async () => ({ status: 'ready' }));

app
  .listen({ port: Number(process.env.PORT ?? 7272), host: process.env.HOST ?? '127.0.0.1' })
  .catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
