import request from 'supertest';
import { sumSamples } from './support/prometheus-text';
import { rawRequest } from './support/raw-http';
import { startInProcessMesha, type InProcessMesha } from './support/mesha-app';

const ACK = 'receive wasm callback request status ok';
const SEED_BODY = "i'm wasm from wasm filter !!!";
const SEED_MSG = 'my header from wasm envoy reporter';

/** The seed filter's request: the headers Envoy sends for its dispatch_http_call, and its body. */
function seedRequest(url: string) {
  return request(url)
    .post('/wasmCallback')
    .set('melonmsg', SEED_MSG)
    .set('accept', '*/*')
    .set('host', 'mesha.istio12.svc.cluster.local')
    .set('x-envoy-expected-rq-timeout-ms', '5000')
    .send(Buffer.from(SEED_BODY));
}

describe('mesha POST /wasmCallback (seed contract)', () => {
  let mesha: InProcessMesha;
  beforeAll(async () => {
    mesha = await startInProcessMesha({ LOG_BODY_MAX_CHARS: '10' });
  });
  afterAll(() => mesha.close());

  it("answers the seed's exact request with the exact text and counts it once", async () => {
    const before = sumSamples(await mesha.metrics(), 'mesha_reports_total', { msg: SEED_MSG });
    const res = await seedRequest(mesha.url).expect(200);
    expect(res.text).toBe(ACK);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    const after = sumSamples(await mesha.metrics(), 'mesha_reports_total', { msg: SEED_MSG });
    expect(after - before).toBe(1);
  });

  it('logs each accepted report as one line: time, seed date, params, melonMsg, cut body, size, address', async () => {
    const prototypeKeys = Reflect.ownKeys(Object.prototype);
    // fetch sends header strings as bytes (latin1): the UTF-8 bytes Envoy would forward.
    const res = await fetch(`${mesha.url}/wasmCallback?b=2&a=1&a=3&__proto__=x&constructor=y`, {
      method: 'POST',
      headers: {
        melonMsg: Buffer.from('say "hi" ✓', 'utf8').toString('latin1'),
        'content-type': 'text/plain',
      },
      body: '0123456789abcdef\n{"level":"fatal"}',
    });
    expect(res.status).toBe(200);
    const line = mesha.logs.filter((l) => l.event === 'report').at(-1);
    expect(line).toBeDefined();
    expect(line?.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(line?.receivedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(line?.date).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    expect(line?.melonMsg).toBe('say "hi" ✓');
    expect(line?.body).toBe('0123456789');
    expect(line?.bodyBytes).toBe(34);
    expect(line?.bodyTruncated).toBe(true);
    expect(line?.remoteAddress).toBe('127.0.0.1');
    const params = line?.params as Record<string, unknown>;
    expect(Object.keys(params)).toEqual(['b', 'a', '__proto__', 'constructor']);
    expect(params.a).toEqual(['1', '3']);
    expect(Object.getOwnPropertyDescriptor(params, '__proto__')?.value).toBe('x');
    expect(params.constructor).toBe('y');
    expect(Object.hasOwn(params, '__proto__') && Object.hasOwn(params, 'constructor')).toBe(true);
    // The server runs in this process: a polluted prototype would show up here.
    expect(Reflect.ownKeys(Object.prototype)).toEqual(prototypeKeys);
  });

  it('reads the body as text whatever the Content-Type, never 415', async () => {
    for (const type of [
      undefined,
      'text/plain',
      'application/octet-stream',
      '*/*',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=zzz',
      'foo',
      ';;;',
      'image/png',
    ]) {
      const req = request(mesha.url).post('/wasmCallback').set('melonMsg', 'types');
      if (type !== undefined) req.set('content-type', type);
      const res = await req.send(Buffer.from('x=1&y=2'));
      expect([type, res.status, res.text]).toEqual([type, 200, ACK]);
    }
    expect(sumSamples(await mesha.metrics(), 'mesha_reports_total', { msg: 'types' })).toBe(9);
  });

  it('rejects a missing melonMsg with a JSON 400 that says so, counting the rejection', async () => {
    const res = await request(mesha.url).post('/wasmCallback').send('x').expect(400);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body).toEqual({
      statusCode: 400,
      error: 'Bad Request',
      message: expect.stringContaining('melonMsg') as string,
    });
    expect(
      sumSamples(await mesha.metrics(), 'mesha_rejected_reports_total', {
        reason: 'missing_header',
      }),
    ).toBeGreaterThanOrEqual(1);
  });

  it('answers other methods and unknown paths with JSON 404', async () => {
    for (const method of ['get', 'put', 'delete', 'patch'] as const) {
      const res = await request(mesha.url)[method]('/wasmCallback').expect(404);
      expect(res.body).toMatchObject({ statusCode: 404, error: 'Not Found' });
    }
    const res = await request(mesha.url).post('/nope').set('melonMsg', 'm').expect(404);
    expect(res.body.message).toContain('/nope');
  });

  it('serves health and readiness', async () => {
    await request(mesha.url).get('/healthz').expect(200, { status: 'ok' });
    await request(mesha.url).get('/readyz').expect(200, { status: 'ready' });
  });

  it('exposes the request duration histogram by route and status code', async () => {
    const samples = await mesha.metrics();
    expect(
      sumSamples(samples, 'mesha_http_request_duration_seconds_count', {
        route: '/wasmCallback',
        status_code: '200',
      }),
    ).toBeGreaterThan(0);
    expect(
      sumSamples(samples, 'mesha_http_request_duration_seconds_count', {
        route: 'unmatched',
        status_code: '404',
      }),
    ).toBeGreaterThan(0);
  });

  it('serves OpenMetrics when the scraper asks for it, Prometheus text otherwise', async () => {
    const om = await request(mesha.url)
      .get('/metrics')
      .set('accept', 'application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5')
      .expect(200);
    expect(om.headers['content-type']).toMatch(/^application\/openmetrics-text; version=1\.0\.0/);
    expect(om.text).toContain('# TYPE mesha_reports counter');
    expect(om.text.endsWith('# EOF\n')).toBe(true);
    const text = await request(mesha.url).get('/metrics').expect(200);
    expect(text.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(text.text).toContain('# TYPE mesha_reports_total counter');
  });
});

describe('mesha limits: body size, auth', () => {
  let mesha: InProcessMesha;
  const token = 'correct-horse-battery-staple';
  beforeAll(async () => {
    mesha = await startInProcessMesha({ BODY_LIMIT_BYTES: '64', AUTH_TOKEN: token });
  });
  afterAll(() => mesha.close());

  const rejected = async (reason: string) =>
    sumSamples(await mesha.metrics(), 'mesha_rejected_reports_total', { reason });

  it('accepts the right bearer token', async () => {
    await request(mesha.url)
      .post('/wasmCallback')
      .set('authorization', `Bearer ${token}`)
      .set('melonMsg', 'm')
      .send('ok')
      .expect(200, ACK);
  });

  it.each([
    ['no header', undefined],
    ['wrong token', `Bearer ${token}x`],
    ['prefix of the token', `Bearer ${token.slice(0, 5)}`],
    ['basic scheme', `Basic ${Buffer.from(`u:${token}`).toString('base64')}`],
    ['bare token', token],
  ])('401 for %s, never logging the token', async (_name, header) => {
    const before = await rejected('unauthorized');
    const req = request(mesha.url).post('/wasmCallback').set('melonMsg', 'm');
    if (header !== undefined) req.set('authorization', header);
    const res = await req.send('x').expect(401);
    expect(res.body).toMatchObject({ statusCode: 401, error: 'Unauthorized' });
    expect(res.body.message).toMatch(/Authorization/);
    expect(await rejected('unauthorized')).toBe(before + 1);
    expect(JSON.stringify(mesha.logs)).not.toContain(token);
  });

  it('keeps health and metrics open', async () => {
    await request(mesha.url).get('/healthz').expect(200);
    await request(mesha.url).get('/readyz').expect(200);
    await request(mesha.url).get('/metrics').expect(200);
  });

  it('413 JSON for a body over BODY_LIMIT_BYTES, counted as too_large and not as a report', async () => {
    const reportsBefore = sumSamples(await mesha.metrics(), 'mesha_reports_total');
    const before = await rejected('too_large');
    const res = await request(mesha.url)
      .post('/wasmCallback')
      .set('authorization', `Bearer ${token}`)
      .set('melonMsg', 'm')
      .send(Buffer.alloc(65, 'a'))
      .expect(413);
    expect(res.body).toMatchObject({ statusCode: 413, error: 'Payload Too Large' });
    expect(await rejected('too_large')).toBe(before + 1);
    expect(sumSamples(await mesha.metrics(), 'mesha_reports_total')).toBe(reportsBefore);
    // Exactly at the limit is fine.
    await request(mesha.url)
      .post('/wasmCallback')
      .set('authorization', `Bearer ${token}`)
      .set('melonMsg', 'm')
      .send(Buffer.alloc(64, 'a'))
      .expect(200);
  });

  it('checks the token before reading the body: 401, not 413, counted once as unauthorized', async () => {
    const before = {
      unauthorized: await rejected('unauthorized'),
      tooLarge: await rejected('too_large'),
    };
    const res = await request(mesha.url)
      .post('/wasmCallback')
      .set('melonMsg', 'm')
      .send(Buffer.alloc(65, 'a'))
      .expect(401);
    expect(res.body).toMatchObject({ statusCode: 401, error: 'Unauthorized' });
    expect(res.body.message).toMatch(/Authorization/);
    expect(await rejected('unauthorized')).toBe(before.unauthorized + 1);
    expect(await rejected('too_large')).toBe(before.tooLarge);
  });

  it('answers 401 without waiting for a body that never comes', async () => {
    // A body-reading check would wait for these 60 bytes until the request timeout (30 s).
    const res = await rawRequest(
      Number(new URL(mesha.url).port),
      'POST /wasmCallback HTTP/1.1\r\nHost: mesha\r\nmelonMsg: m\r\nContent-Length: 60\r\n\r\n',
      { timeoutMs: 20_000 },
    );
    expect(res.status).toBe(401);
    expect(JSON.parse(res.body)).toMatchObject({ statusCode: 401, error: 'Unauthorized' });
  });
});

describe('mesha cardinality cap over HTTP', () => {
  let mesha: InProcessMesha;
  beforeAll(async () => {
    mesha = await startInProcessMesha({ MAX_SERIES: '3', PARAM_LABELS: 'app' });
  });
  afterAll(() => mesha.close());

  it('keeps MAX_SERIES label sets per metric and counts the rest into __overflow__', async () => {
    for (let i = 0; i < 10; i++) {
      await request(mesha.url)
        .post(`/wasmCallback?app=a${i}`)
        .set('melonMsg', `msg-${i}`)
        .send('x')
        .expect(200);
    }
    const samples = await mesha.metrics();
    const reports = samples.filter((s) => s.name === 'mesha_reports_total');
    expect(reports).toHaveLength(4);
    expect(sumSamples(samples, 'mesha_reports_total', { msg: '__overflow__' })).toBe(7);
    expect(sumSamples(samples, 'mesha_reports_total')).toBe(10);
    expect(
      sumSamples(samples, 'mesha_report_params_total', {
        key: '__overflow__',
        value: '__overflow__',
      }),
    ).toBe(7);
    expect(
      sumSamples(samples, 'mesha_series_dropped_total', { metric: 'mesha_reports_total' }),
    ).toBe(7);
  });
});
