import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { encodePairs, Status } from '../src';
import { freePort } from '../../test/support/ports';
import { hostTracker, messages } from './support/hosts';
import { buildPlugin } from './support/wat';

const hosts = hostTracker();
afterEach(() => hosts.closeAll());

interface Seen {
  method?: string;
  url?: string;
  headers: IncomingMessage['headers'];
  body: string;
}
let server: Server;
let baseUrl: string;
const seen: Seen[] = [];
let handler: (req: IncomingMessage, res: ServerResponse, body: string) => void;

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      seen.push({ method: req.method, url: req.url, headers: req.headers, body });
      handler(req, res, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});
beforeEach(() => {
  seen.length = 0;
  handler = (_req, res) => {
    res.setHeader('x-answer', '42');
    res.end('pong');
  };
});

const CLUSTER = 'outbound|7171||mesha.istio12.svc.cluster.local';

/** On each tick: one proxy_http_call; on the answer: logs its arguments, :status, body and get_status. */
function callingPlugin(opts: {
  cluster?: string;
  headers?: Array<[string, string]>;
  headerBytes?: Buffer;
  body?: string;
  timeoutMs?: number;
}) {
  const cluster = opts.cluster ?? CLUSTER;
  const headers =
    opts.headerBytes ??
    encodePairs(
      opts.headers ?? [
        [':method', 'POST'],
        [':path', '/v1/reports?x=1'],
        [':authority', 'mesha'],
        ['content-type', 'application/json'],
      ],
    );
  const body = opts.body ?? '{"n":1}';
  return buildPlugin({
    data: [
      [1024, cluster],
      [2048, headers],
      [8192, body],
      [900, 'resp '],
      [920, ':status'],
      [940, 'token='],
    ],
    body: `
      (func (export "proxy_on_tick") (param $ctx i32)
        (call $logStatus (call $proxy_http_call
          (i32.const 1024) (i32.const ${Buffer.byteLength(cluster)})
          (i32.const 2048) (i32.const ${headers.length})
          (i32.const 8192) (i32.const ${Buffer.byteLength(body)})
          (i32.const 0) (i32.const 0)
          (i32.const ${opts.timeoutMs ?? 5000}) (i32.const 512)))
        (call $logU32At (i32.const 512)))
      (func (export "proxy_on_http_call_response") (param $ctx i32) (param $token i32) (param $nh i32) (param $bs i32) (param $nt i32)
        (call $logNum (i32.const 900) (i32.const 5) (local.get $ctx))
        (call $logNum (i32.const 940) (i32.const 6) (local.get $token))
        (call $logNum (i32.const 900) (i32.const 5) (local.get $nh))
        (call $logNum (i32.const 900) (i32.const 5) (local.get $bs))
        (if (i32.eqz (call $proxy_get_buffer_bytes (i32.const 4) (i32.const 0) (local.get $bs) (i32.const 520) (i32.const 524)))
          (then (call $logStr (i32.load (i32.const 520)) (i32.load (i32.const 524)))))
        (if (i32.eqz (call $proxy_get_header_map_value (i32.const 6) (i32.const 920) (i32.const 7) (i32.const 520) (i32.const 524)))
          (then (call $logStr (i32.load (i32.const 520)) (i32.load (i32.const 524)))))
        (call $logStatus (call $proxy_get_status (i32.const 528) (i32.const 520) (i32.const 524)))
        (call $logU32At (i32.const 528)))
      (func (export "proxy_on_configure") (param i32 i32) (result i32) (i32.const 1))
      (data (i32.const 960) "late ")
      ;; after the callback, buffer 4 is gone
      (func (export "proxy_on_log") (param i32))
      (func (export "proxy_on_done") (param i32) (result i32)
        (call $logStatus (call $proxy_get_buffer_bytes (i32.const 4) (i32.const 0) (i32.const 10) (i32.const 520) (i32.const 524)))
        (i32.const 1))`,
  });
}

describe('proxy_http_call', () => {
  it('calls the URL mapped to the cluster name and answers on the root context with headers and body', async () => {
    const host = await hosts.start({
      wasm: await callingPlugin({}),
      clusters: { [CLUSTER]: baseUrl },
    });
    await host.tick(1);
    expect(messages(host)).toEqual(['status=0', 'u32=1']);
    await host.settle();
    expect(seen).toHaveLength(1);
    expect(seen[0].method).toBe('POST');
    expect(seen[0].url).toBe('/v1/reports?x=1');
    expect(seen[0].headers.host).toBe('mesha');
    expect(seen[0].headers['content-type']).toBe('application/json');
    expect(seen[0].headers['content-length']).toBe('7');
    expect(seen[0].body).toBe('{"n":1}');
    const record = host.httpCalls[0];
    expect(record).toMatchObject({
      vm: 1,
      cluster: CLUSTER,
      status: Status.OK,
      token: 1,
      timeoutMs: 5000,
    });
    expect(record.response?.status).toBe(200);
    expect(record.response?.body.toString()).toBe('pong');
    expect(record.response?.headers).toContainEqual(['x-answer', '42']);
    const n = record.response!.headers.length;
    expect(messages(host).slice(2)).toEqual([
      'resp 1', // root context id
      'token=1',
      `resp ${n}`,
      'resp 4',
      'pong',
      '200',
      'status=0',
      'u32=0',
    ]);
    // Tokens count up per VM: VM 1's second call is token 2, VM 0's first is token 1.
    await host.tick();
    await host.settle();
    expect(host.httpCalls.map((c) => [c.vm, c.token])).toEqual([
      [1, 1],
      [0, 1],
      [1, 2],
    ]);
    await host.close();
    // On root on_done the http call body (buffer 4) is no longer readable.
    expect(messages(host).filter((m) => m === `status=${Status.NOT_FOUND}`)).toHaveLength(2);
  });

  it.each([
    ['an unknown cluster', { cluster: 'mesha:7171' }],
    ['a URL as the cluster', { cluster: 'http://127.0.0.1:1/' }],
    [
      'a missing :path',
      {
        headers: [
          [':method', 'GET'],
          [':authority', 'm'],
        ] as Array<[string, string]>,
      },
    ],
    [
      'a missing :authority (:host used)',
      {
        headers: [
          [':method', 'GET'],
          [':path', '/'],
          [':host', 'm'],
        ] as Array<[string, string]>,
      },
    ],
    [
      'a missing :method',
      {
        headers: [
          [':path', '/'],
          [':authority', 'm'],
        ] as Array<[string, string]>,
      },
    ],
    ['a negative timeout', { timeoutMs: -1 }],
    ...['@127.0.0.1:1/x', 'x', 'http://127.0.0.1:1/x'].map(
      (path): [string, { headers: Array<[string, string]> }] => [
        `a :path ${JSON.stringify(path)} that is not origin-form`,
        {
          headers: [
            [':method', 'GET'],
            [':path', path],
            [':authority', 'm'],
          ] as Array<[string, string]>,
        },
      ],
    ),
    [
      'a malformed header map (trailing byte)',
      {
        headerBytes: Buffer.concat([
          encodePairs([
            [':method', 'GET'],
            [':path', '/'],
            [':authority', 'm'],
          ]),
          Buffer.from([0]),
        ]),
      },
    ],
  ])('answers BAD_ARGUMENT and makes no call for %s', async (_what, opts) => {
    const host = await hosts.start({
      wasm: await callingPlugin(opts),
      clusters: { [CLUSTER]: baseUrl },
      concurrency: 1,
    });
    await host.tick();
    await host.settle();
    expect(messages(host)[0]).toBe(`status=${Status.BAD_ARGUMENT}`);
    expect(messages(host)[1]).toBe('u32=0'); // no token written
    expect(seen).toHaveLength(0);
    expect(host.httpCalls).toHaveLength(1);
    expect(host.httpCalls[0].status).toBe(Status.BAD_ARGUMENT);
    expect(host.httpCalls[0].token).toBeUndefined();
  });

  it('on connection failure calls back with zeros and get_status says BROKEN_CONNECTION', async () => {
    const deadPort = await freePort();
    const host = await hosts.start({
      wasm: await callingPlugin({}),
      clusters: { [CLUSTER]: `http://127.0.0.1:${deadPort}` },
      concurrency: 1,
    });
    await host.tick();
    await host.settle();
    expect(messages(host)).toEqual([
      'status=0',
      'u32=1',
      'resp 1',
      'token=1',
      'resp 0',
      'resp 0',
      'status=0',
      `u32=${Status.BROKEN_CONNECTION}`,
    ]);
    expect(host.httpCalls[0].error).toMatch(/ECONNREFUSED/);
  });

  it('honours the timeout', async () => {
    handler = () => undefined; // never answers
    const host = await hosts.start({
      wasm: await callingPlugin({ timeoutMs: 100 }),
      clusters: { [CLUSTER]: baseUrl },
      concurrency: 1,
    });
    const started = Date.now();
    await host.tick();
    await host.settle(5000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
    expect(host.httpCalls[0].error).toMatch(/timeout after 100 ms/);
    expect(messages(host).at(-1)).toBe(`u32=${Status.BROKEN_CONNECTION}`);
  });
});
