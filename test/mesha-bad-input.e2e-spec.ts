import { sumSamples } from './support/prometheus-text';
import { startInProcessMesha, type InProcessMesha } from './support/mesha-app';
import { rawRequest, type RawResponse } from './support/raw-http';

const TOKEN = 'bad-input-suite-token-0123456789';
const LIMIT = 1024;

interface Case {
  name: string;
  /** The request line target (path and query). */
  target?: string;
  method?: string;
  /** Header lines as sent, `Name: value` each; Host and Authorization are added unless `raw`. */
  headers?: string[];
  body?: string | Buffer;
  /** Send these exact bytes instead of building a request. */
  raw?: string | Buffer;
  endAfterWrite?: boolean;
  status: number;
  /** Whether the report must be accepted (counted once) or not counted at all. */
  accepted?: boolean;
  /** The rejection reason counted, when the request reached the ingest route. */
  reason?: string;
  /** A word the error message must contain. */
  says?: RegExp;
}

const auth = `Authorization: Bearer ${TOKEN}`;
const msg = 'melonMsg: bad input suite';

function build(c: Case): Buffer {
  if (c.raw !== undefined) return Buffer.isBuffer(c.raw) ? c.raw : Buffer.from(c.raw, 'latin1');
  const body = c.body === undefined ? Buffer.alloc(0) : Buffer.from(c.body);
  const headers = ['Host: mesha', ...(c.headers ?? [auth, msg])];
  if (!headers.some((h) => /^(content-length|transfer-encoding):/i.test(h))) {
    headers.push(`Content-Length: ${body.length}`);
  }
  const head = `${c.method ?? 'POST'} ${c.target ?? '/wasmCallback'} HTTP/1.1\r\n${headers.join('\r\n')}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), body]);
}

const many = <T>(n: number, f: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => f(i));

const cases: Case[] = [
  // The melonMsg header.
  {
    name: 'no melonMsg, no body',
    headers: [auth],
    status: 400,
    reason: 'missing_header',
    says: /melonMsg/,
  },
  {
    name: 'no melonMsg, text body',
    headers: [auth, 'Content-Type: text/plain'],
    body: 'hi',
    status: 400,
    reason: 'missing_header',
  },
  {
    name: 'no melonMsg, JSON body',
    headers: [auth, 'Content-Type: application/json'],
    body: '{}',
    status: 400,
    reason: 'missing_header',
  },
  {
    name: 'empty melonMsg',
    headers: [auth, 'melonMsg:'],
    body: 'x',
    status: 400,
    reason: 'missing_header',
  },
  {
    name: 'blank melonMsg',
    headers: [auth, 'melonMsg:    '],
    body: 'x',
    status: 400,
    reason: 'missing_header',
  },
  {
    name: 'melonMsg misspelt',
    headers: [auth, 'melon-Msg: x'],
    body: 'x',
    status: 400,
    reason: 'missing_header',
  },
  {
    name: '__proto__ header instead of melonMsg',
    headers: [auth, '__proto__: x', 'constructor: y'],
    status: 400,
    reason: 'missing_header',
  },
  // Auth.
  {
    name: 'no Authorization',
    headers: [msg],
    body: 'x',
    status: 401,
    reason: 'unauthorized',
    says: /Authorization/,
  },
  {
    name: 'wrong bearer token',
    headers: [`Authorization: Bearer ${TOKEN}x`, msg],
    status: 401,
    reason: 'unauthorized',
  },
  {
    name: 'empty bearer token',
    headers: ['Authorization: Bearer ', msg],
    status: 401,
    reason: 'unauthorized',
  },
  {
    name: 'token without scheme',
    headers: [`Authorization: ${TOKEN}`, msg],
    status: 401,
    reason: 'unauthorized',
  },
  // Sizes.
  {
    name: 'text body one byte over the limit',
    headers: [auth, msg, 'Content-Type: text/plain'],
    body: Buffer.alloc(LIMIT + 1, 'a'),
    status: 413,
    reason: 'too_large',
  },
  {
    name: 'binary body over the limit',
    headers: [auth, msg, 'Content-Type: application/octet-stream'],
    body: Buffer.alloc(LIMIT * 4, 1),
    status: 413,
    reason: 'too_large',
  },
  {
    name: 'untyped body over the limit',
    headers: [auth, msg],
    body: Buffer.alloc(LIMIT * 2, 'b'),
    status: 413,
    reason: 'too_large',
  },
  {
    name: 'chunked body over the limit',
    headers: [auth, msg, 'Transfer-Encoding: chunked'],
    body: `${(LIMIT + 10).toString(16)}\r\n${'c'.repeat(LIMIT + 10)}\r\n0\r\n\r\n`,
    status: 413,
    reason: 'too_large',
  },
  {
    name: 'declared length over the limit',
    headers: [auth, msg, `Content-Length: ${LIMIT * 1000}`],
    body: 'short',
    status: 413,
    reason: 'too_large',
  },
  {
    name: 'JSON body over the limit',
    headers: [auth, msg, 'Content-Type: application/json'],
    body: `{"pad":"${'x'.repeat(LIMIT)}"}`,
    status: 413,
    reason: 'too_large',
  },
  {
    name: '101 query parameters',
    target: `/wasmCallback?${many(101, (i) => `k${i}=v`).join('&')}`,
    status: 400,
    reason: 'too_many_params',
    says: /query parameters/,
  },
  {
    name: '10k query parameters',
    target: `/wasmCallback?${many(10_000, (i) => `k${i}=v`).join('&')}`,
    status: 431,
  },
  {
    name: 'very long melonMsg (20 KB)',
    headers: [auth, `melonMsg: ${'m'.repeat(20_000)}`],
    status: 431,
  },
  {
    name: 'very long Content-Type (20 KB)',
    headers: [auth, msg, `Content-Type: text/${'p'.repeat(20_000)}`],
    status: 431,
  },
  {
    name: 'ten thousand headers',
    headers: [auth, msg, ...many(10_000, (i) => `x-h${i}: v`)],
    status: 431,
  },
  // Malformed HTTP and injection attempts.
  {
    name: 'CR inside a header value (injection)',
    headers: [auth, 'melonMsg: a\rInjected: b'],
    status: 400,
  },
  { name: 'NUL inside a header value', headers: [auth, 'melonMsg: a\u0000b'], status: 400 },
  {
    name: 'header folded over two lines',
    headers: [auth, 'melonMsg: a', ' continued'],
    status: 400,
  },
  { name: 'space before the colon', headers: [auth, 'melonMsg : a'], status: 400 },
  {
    name: 'Content-Length and Transfer-Encoding together',
    headers: [auth, msg, 'Content-Length: 3', 'Transfer-Encoding: chunked'],
    body: '3\r\nabc\r\n0\r\n\r\n',
    status: 400,
  },
  {
    name: 'two different Content-Lengths',
    headers: [auth, msg, 'Content-Length: 3', 'Content-Length: 4'],
    body: 'abcd',
    status: 400,
  },
  {
    name: 'broken chunked encoding',
    headers: [auth, msg, 'Transfer-Encoding: chunked'],
    body: 'zz\r\nabc\r\n0\r\n\r\n',
    status: 400,
    reason: 'bad_request',
  },
  {
    name: 'body shorter than Content-Length, then half-close',
    headers: [auth, msg, 'Content-Length: 50'],
    body: 'only this',
    endAfterWrite: true,
    status: 400,
    reason: 'bad_request',
  },
  {
    name: 'no Host header',
    raw: `POST /wasmCallback HTTP/1.1\r\n${auth}\r\n${msg}\r\nContent-Length: 0\r\n\r\n`,
    status: 400,
    reason: 'bad_request',
    says: /Host/,
  },
  { name: 'unknown method', method: 'FROB', status: 400 },
  {
    name: 'space inside the request target',
    raw: `POST /wasm Callback HTTP/1.1\r\nHost: m\r\n${msg}\r\n\r\n`,
    status: 400,
  },
  // Wrong routes and methods.
  { name: 'GET /wasmCallback', method: 'GET', status: 404 },
  { name: 'PUT /wasmCallback', method: 'PUT', body: 'x', status: 404 },
  { name: 'DELETE /wasmCallback', method: 'DELETE', status: 404 },
  { name: 'PATCH /wasmCallback', method: 'PATCH', body: 'x', status: 404 },
  { name: 'lower-case path', target: '/wasmcallback', status: 404 },
  { name: 'path with a suffix', target: '/wasmCallback/extra', status: 404 },
  // Odd but valid: accepted and counted once.
  { name: 'empty body', status: 200, accepted: true },
  {
    name: 'non-UTF-8 body',
    headers: [auth, msg, 'Content-Type: text/plain; charset=utf-8'],
    body: Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0x00, 0x80]),
    status: 200,
    accepted: true,
  },
  {
    name: 'odd Content-Type',
    headers: [auth, msg, 'Content-Type: ;;;/'],
    body: 'x',
    status: 200,
    accepted: true,
  },
  {
    name: 'Content-Type without subtype',
    headers: [auth, msg, 'Content-Type: text'],
    body: 'x',
    status: 200,
    accepted: true,
  },
  {
    name: 'empty Content-Type',
    headers: [auth, msg, 'Content-Type:'],
    body: 'x',
    status: 200,
    accepted: true,
  },
  {
    name: 'repeated query keys and prototype keys',
    target: '/wasmCallback?a=1&a=2&__proto__=x&constructor=y&prototype=z',
    status: 200,
    accepted: true,
  },
  {
    name: 'percent-encoding gone wrong',
    target: '/wasmCallback?%zz=%&%E0%A4%A=1',
    status: 200,
    accepted: true,
  },
  {
    name: 'exactly 100 query parameters',
    target: `/wasmCallback?${many(100, (i) => `k${i}=v`).join('&')}`,
    status: 200,
    accepted: true,
  },
  {
    name: 'body exactly at the limit',
    body: Buffer.alloc(LIMIT, 'z'),
    status: 200,
    accepted: true,
  },
  {
    name: 'two melonMsg headers',
    headers: [auth, 'melonMsg: one', 'melonMsg: two'],
    status: 200,
    accepted: true,
  },
];

describe('mesha bad input', () => {
  let mesha: InProcessMesha;
  let port: number;
  beforeAll(async () => {
    mesha = await startInProcessMesha({
      AUTH_TOKEN: TOKEN,
      BODY_LIMIT_BYTES: String(LIMIT),
      LOG_LEVEL: 'warn',
    });
    port = Number(new URL(mesha.url).port);
  });
  afterAll(() => mesha.close());

  const counters = async () => {
    const samples = await mesha.metrics();
    return {
      reports: sumSamples(samples, 'mesha_reports_total'),
      bodies: sumSamples(samples, 'mesha_report_body_bytes_count'),
      rejected: (reason: string) => sumSamples(samples, 'mesha_rejected_reports_total', { reason }),
      rejectedAll: sumSamples(samples, 'mesha_rejected_reports_total'),
    };
  };

  it('has at least 30 cases that must be refused with a 4xx', () => {
    expect(cases.filter((c) => c.status >= 400 && c.status < 500).length).toBeGreaterThanOrEqual(
      30,
    );
  });

  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const before = await counters();
    const res: RawResponse = await rawRequest(port, build(c), { endAfterWrite: c.endAfterWrite });
    expect({ status: res.status, body: res.body.slice(0, 300) }).toMatchObject({
      status: c.status,
    });
    if (c.status >= 400) {
      const body = JSON.parse(res.body) as Record<string, unknown>;
      expect(body).toEqual({
        statusCode: c.status,
        error: expect.any(String) as string,
        message: expect.any(String) as string,
      });
      if (c.says) expect(body.message).toMatch(c.says);
    }
    // The server keeps serving.
    expect((await fetch(`${mesha.url}/healthz`)).status).toBe(200);
    const after = await counters();
    expect(after.reports - before.reports).toBe(c.accepted ? 1 : 0);
    expect(after.bodies - before.bodies).toBe(c.accepted ? 1 : 0);
    if (c.reason) expect(after.rejected(c.reason) - before.rejected(c.reason)).toBe(1);
    expect(after.rejectedAll - before.rejectedAll).toBe(c.reason ? 1 : 0);
  });

  it('survives a concurrent flood of bad and good reports, counting exactly the good ones', async () => {
    const before = await counters();
    const send = (good: boolean) =>
      fetch(`${mesha.url}/wasmCallback`, {
        method: 'POST',
        headers: good
          ? { authorization: `Bearer ${TOKEN}`, melonMsg: 'flood' }
          : { authorization: `Bearer ${TOKEN}` },
        body: 'x',
      }).then((r) => r.status);
    const statuses = await Promise.all(many(400, (i) => send(i % 2 === 0)));
    expect(statuses.filter((s) => s === 200)).toHaveLength(200);
    expect(statuses.filter((s) => s === 400)).toHaveLength(200);
    const after = await counters();
    expect(after.reports - before.reports).toBe(200);
    expect(after.rejected('missing_header') - before.rejected('missing_header')).toBe(200);
    expect((await fetch(`${mesha.url}/healthz`)).status).toBe(200);
  });
});
