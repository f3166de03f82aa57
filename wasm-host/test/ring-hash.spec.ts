import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpCallClient } from '../src/http-client';
import { envoyPointCounts, RingHash, xxHash64, type Hash64 } from '../src/ring-hash';
import { BASE_EJECTION_MS, MAX_EJECTION_MS, UpstreamCluster } from '../src/upstream-cluster';

let hash: Hash64;
beforeAll(async () => {
  hash = await xxHash64();
});

const keys = (n: number) => Array.from({ length: n }, (_, i) => `${i.toString(16)}.mesha.svc`);
const owners = (ring: RingHash, authorities: string[]) =>
  authorities.map((a) => ring.pick(hash(a)));

describe('RingHash (Envoy ring hash, xxHash64)', () => {
  it('hashes with xxHash64, seed 0 (the reference values of the algorithm)', () => {
    expect(hash('')).toBe(0xef46db3751d8e999n);
    expect(hash('abc')).toBe(0x44bc2cf5ad770999n);
  });

  it('gives every endpoint ceil(1024 / endpoints) points, as Envoy does for equal weights', () => {
    expect(new RingHash(['a:1', 'b:1'], hash).size).toBe(1024);
    expect(new RingHash(['a:1', 'b:1', 'c:1'], hash).size).toBe(3 * 342);
    expect(new RingHash(['a:1'], hash).size).toBe(1024);
    expect(envoyPointCounts(5)).toEqual([205, 205, 205, 205, 205]);
    expect(new RingHash([], hash).pick(1n)).toBe(-1);
  });

  it('picks the first point at or after the hash, wrapping past the last to the first', () => {
    const ring = new RingHash(['a:1', 'b:1'], hash, [1, 1]); // one point each: a:1_0 and b:1_0
    const [ha, hb] = [hash('a:1_0'), hash('b:1_0')];
    const [lo, hi, ownerLo, ownerHi] = ha < hb ? [ha, hb, 0, 1] : [hb, ha, 1, 0];
    expect([ring.pick(0n), ring.pick(lo), ring.pick(lo + 1n)]).toEqual([ownerLo, ownerLo, ownerHi]);
    expect([ring.pick(hi), ring.pick(hi + 1n), ring.pick(2n ** 64n - 1n)]).toEqual([
      ownerHi,
      ownerLo,
      ownerLo,
    ]);
  });

  it('spreads keys evenly enough over 2 and 4 endpoints (10,000 authorities)', () => {
    const authorities = keys(10_000);
    for (const n of [2, 4]) {
      const ring = new RingHash(
        Array.from({ length: n }, (_, i) => `127.0.0.1:${7000 + i}`),
        hash,
      );
      const counts = new Array<number>(n).fill(0);
      for (const owner of owners(ring, authorities)) counts[owner]++;
      for (const c of counts) {
        expect(c).toBeGreaterThan((10_000 / n) * 0.75);
        expect(c).toBeLessThan((10_000 / n) * 1.25);
      }
    }
  });

  it('removing an endpoint (the others keeping their points) moves only the keys it owned', () => {
    const endpoints = ['127.0.0.1:7000', '127.0.0.1:7001', '127.0.0.1:7002'];
    const authorities = keys(5_000);
    const before = owners(new RingHash(endpoints, hash), authorities).map((i) => endpoints[i]);
    const rest = endpoints.filter((e) => e !== '127.0.0.1:7001');
    const after = owners(new RingHash(rest, hash, [342, 342]), authorities).map((i) => rest[i]);
    let moved = 0;
    authorities.forEach((_, k) => {
      if (before[k] !== '127.0.0.1:7001') expect(after[k]).toBe(before[k]);
      else moved++;
    });
    expect(moved).toBeGreaterThan(1_000); // it did own a share, and those moved
    expect(after.filter((e) => e === '127.0.0.1:7001')).toEqual([]);
  });
});

describe('UpstreamCluster (ring hash on :authority, ejection on connection failure)', () => {
  const urls = ['http://127.0.0.1:7000', 'http://127.0.0.1:7001', 'http://127.0.0.1:7002'];
  let now = 1_000_000;
  const cluster = () =>
    new UpstreamCluster(
      'mesha',
      urls.map((u) => new URL(u)),
      () => now,
    );
  const routeAll = (c: UpstreamCluster, authorities: string[]) =>
    Promise.all(authorities.map(async (a) => (await c.route(new URL(`${urls[0]}/r`), a)).host));

  it('parses one URL or a list; refuses what is not one http:// cluster', () => {
    expect(UpstreamCluster.parse('a', 'http://127.0.0.1:1').size).toBe(1);
    expect(UpstreamCluster.parse('a', urls).size).toBe(3);
    expect(() => UpstreamCluster.parse('a', [])).toThrow('cluster a: no endpoint');
    expect(() => UpstreamCluster.parse('a', ['http://x:1', 'http://x:1'])).toThrow('twice');
    expect(() => UpstreamCluster.parse('a', ['http://x:1/a', 'http://y:1/b'])).toThrow(
      'same base path',
    );
    expect(() => UpstreamCluster.parse('a', ['https://x:1'])).toThrow('only http://');
    expect(() => UpstreamCluster.parse('a', ['nope'])).toThrow('is not a URL');
  });

  it('routes the same authority to the same endpoint, keeping the path and query', async () => {
    const c = cluster();
    const a = await c.route(new URL(`${urls[0]}/v1/reports?x=1`), 'abc.mesha');
    const b = await c.route(new URL(`${urls[0]}/v1/reports?x=1`), 'abc.mesha');
    expect(a.href).toBe(b.href);
    expect(a.pathname + a.search).toBe('/v1/reports?x=1');
    expect(urls.map((u) => new URL(u).host)).toContain(a.host);
  });

  it('a failed endpoint leaves the ring: only its keys move, for 30 s, then it is back', async () => {
    const c = cluster();
    const authorities = keys(2_000);
    const before = await routeAll(c, authorities);
    c.failed(new URL('http://127.0.0.1:7001/v1/reports'));
    expect(c.ejected()).toEqual(['http://127.0.0.1:7001/']);
    const during = await routeAll(c, authorities);
    authorities.forEach((_, k) => {
      if (before[k] !== '127.0.0.1:7001') expect(during[k]).toBe(before[k]);
      else expect(during[k]).not.toBe('127.0.0.1:7001');
    });
    now += BASE_EJECTION_MS;
    expect(c.ejected()).toEqual([]);
    expect(await routeAll(c, authorities)).toEqual(before);
  });

  it('ejects longer each consecutive time (30 s × n, at most 300 s); an answer starts over', () => {
    const c = cluster();
    const dead = new URL('http://127.0.0.1:7002/');
    for (let n = 1; n <= 12; n++) {
      c.failed(dead);
      c.failed(dead); // calls already under way when it was ejected do not add
      const span = Math.min(BASE_EJECTION_MS * n, MAX_EJECTION_MS);
      now += span - 1;
      expect(c.ejected()).toEqual([dead.href]);
      now += 1;
      expect(c.ejected()).toEqual([]);
    }
    c.answered(dead);
    c.failed(dead);
    now += BASE_EJECTION_MS;
    expect(c.ejected()).toEqual([]);
  });

  it('every endpoint ejected: the ring over all of them (panic), not a failure', async () => {
    const c = cluster();
    const authorities = keys(500);
    const before = await routeAll(c, authorities);
    for (const u of urls) c.failed(new URL(u));
    expect(await routeAll(c, authorities)).toEqual(before);
  });
});

describe('HttpCallClient over a cluster of two real endpoints', () => {
  const servers: Server[] = [];
  const hits = new Map<string, number>();
  let endpoints: string[];

  beforeAll(async () => {
    endpoints = [];
    for (let i = 0; i < 2; i++) {
      const server = createServer((req, res) => {
        const host = req.headers.host ?? '';
        hits.set(`${i}:${host}`, (hits.get(`${i}:${host}`) ?? 0) + 1);
        req.resume();
        req.on('end', () => res.end(String(i)));
      });
      await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
      servers.push(server);
      endpoints.push(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    }
  });
  afterAll(async () => {
    for (const s of servers) {
      s.closeAllConnections();
      await new Promise((ok) => s.close(ok));
    }
  });

  it('spreads authorities over both, keeps each on one, and moves a dead one’s to the other', async () => {
    const client = new HttpCallClient();
    const cluster = UpstreamCluster.parse('mesha', endpoints);
    const call = (authority: string) =>
      client.send({
        url: new URL(`${endpoints[0]}/v1/reports`),
        cluster,
        method: 'POST',
        headers: [['host', authority]],
        body: Buffer.from('{}'),
        timeoutMs: 5_000,
        maxResponseBytes: 1024,
      });
    const authorities = keys(40);
    const first = await Promise.all(authorities.map(async (a) => (await call(a)).body.toString()));
    const again = await Promise.all(authorities.map(async (a) => (await call(a)).body.toString()));
    expect(again).toEqual(first);
    expect(new Set(first)).toEqual(new Set(['0', '1']));

    // endpoint 1 goes away: the first call to it fails (and ejects it), the rest go to endpoint 0
    servers[1].closeAllConnections();
    await new Promise((ok) => servers[1].close(ok));
    const onDead = authorities.filter((_, k) => first[k] === '1');
    await expect(call(onDead[0])).rejects.toThrow();
    expect(cluster.ejected()).toEqual([`${endpoints[1]}/`]);
    const after = await Promise.all(authorities.map(async (a) => (await call(a)).body.toString()));
    expect(new Set(after)).toEqual(new Set(['0']));
    client.close();
  });
});
