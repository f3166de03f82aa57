import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { ConfigError, parseConfig } from '../src/config/config.schema';
import { startInProcessMesha, type InProcessMesha } from './support/mesha-app';
import { startMesha, type MeshaProcess } from './support/mesha';
import { stopAllProcesses } from './support/child-process';

// A small module standing in for the reporter build; its bytes and digest are what must come back.
const WASM = Buffer.concat([
  Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]),
  Buffer.from([0x00, 0x06, 0x04, 0x6d, 0x65, 0x73, 0x68]), // custom section "mesh"
]);
const SHA = createHash('sha256').update(WASM).digest('hex');

describe('mesha serves filter.wasm', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mesha-filter-'));
  const wasmPath = join(dir, 'filter.wasm');
  let mesha: InProcessMesha;

  beforeAll(async () => {
    writeFileSync(wasmPath, WASM);
    mesha = await startInProcessMesha({ FILTER_WASM_PATH: wasmPath });
  });
  afterAll(async () => {
    await mesha?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('GET answers the bytes as application/wasm with length, sha256 ETag and cache headers', async () => {
    const res = await request(mesha.url)
      .get('/filter.wasm')
      .buffer(true)
      .parse((r, done) => {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () => done(null, Buffer.concat(chunks)));
      })
      .expect(200);
    expect(res.headers['content-type']).toBe('application/wasm');
    expect(res.headers['content-length']).toBe(String(WASM.length));
    expect(res.headers.etag).toBe(`"${SHA}"`);
    expect(res.headers['cache-control']).toBe('no-cache');
    expect((res.body as Buffer).equals(WASM)).toBe(true);
  });

  it('HEAD answers the same headers without a body', async () => {
    const res = await fetch(`${mesha.url}/filter.wasm`, { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe(String(WASM.length));
    expect(res.headers.get('etag')).toBe(`"${SHA}"`);
    expect((await res.arrayBuffer()).byteLength).toBe(0);
  });

  it('answers 304 when If-None-Match names the ETag (also weak or in a list), 200 otherwise', async () => {
    for (const tag of [`"${SHA}"`, `W/"${SHA}"`, `"other", "${SHA}"`, '*']) {
      const res = await request(mesha.url)
        .get('/filter.wasm')
        .set('if-none-match', tag)
        .expect(304);
      expect(res.headers.etag).toBe(`"${SHA}"`);
      expect(res.text ?? '').toBe('');
    }
    await request(mesha.url).get('/filter.wasm').set('if-none-match', '"0000"').expect(200);
  });

  it('GET /filter.wasm.sha256 answers the hex digest as text', async () => {
    const res = await request(mesha.url).get('/filter.wasm.sha256').expect(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(res.text).toBe(`${SHA}\n`);
  });

  it('logs the digest it serves once at start-up', () => {
    expect(mesha.logs).toContainEqual(
      expect.objectContaining({ msg: 'serving filter.wasm', sha256: SHA }),
    );
  });
});

describe('mesha without a reporter build, or with the route moved or off', () => {
  const missing = join(tmpdir(), 'mesha-filter-missing', 'filter.wasm');
  const started: InProcessMesha[] = [];
  afterAll(() => Promise.all(started.map((m) => m.close())));

  it('answers a clear JSON 404 on both routes and keeps running', async () => {
    const mesha = await startInProcessMesha({ FILTER_WASM_PATH: missing });
    started.push(mesha);
    for (const path of ['/filter.wasm', '/filter.wasm.sha256']) {
      const res = await request(mesha.url).get(path).expect(404);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(res.body).toEqual({
        statusCode: 404,
        error: 'Not Found',
        message: 'filter.wasm is not available: no reporter build at FILTER_WASM_PATH (ENOENT)',
      });
      // The server's file system stays private: the path is in the start-up log only.
      expect(res.text).not.toContain(tmpdir());
    }
    await request(mesha.url).get('/healthz').expect(200);
  });

  it('refuses a FILTER_WASM_PATH that is not WebAssembly: warns at start-up, answers 404', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mesha-filter-notwasm-'));
    const path = join(dir, 'filter.wasm');
    writeFileSync(path, '#!/bin/sh\necho not wasm\n');
    const mesha = await startMesha({ FILTER_WASM_PATH: path });
    try {
      const res = await request(mesha.url).get('/filter.wasm').expect(404);
      expect(res.body.message).toBe(
        'filter.wasm is not available: FILTER_WASM_PATH is not a WebAssembly module (no \\0asm magic bytes)',
      );
      expect(res.text).not.toContain(dir);
      expect(mesha.jsonLogs()).toContainEqual(
        expect.objectContaining({
          level: 'warn',
          path,
          reason: expect.stringContaining('not a WebAssembly module'),
        }),
      );
    } finally {
      await mesha.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('serves at FILTER_ROUTE, and nothing at all with FILTER_ROUTE=off', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mesha-filter-route-'));
    writeFileSync(join(dir, 'f.wasm'), WASM);
    const moved = await startInProcessMesha({
      FILTER_WASM_PATH: join(dir, 'f.wasm'),
      FILTER_ROUTE: '/wasm/reporter.wasm',
    });
    const off = await startInProcessMesha({
      FILTER_WASM_PATH: join(dir, 'f.wasm'),
      FILTER_ROUTE: 'off',
    });
    started.push(moved, off);
    await request(moved.url).get('/wasm/reporter.wasm').expect(200);
    expect((await request(moved.url).get('/wasm/reporter.wasm.sha256').expect(200)).text).toBe(
      `${SHA}\n`,
    );
    await request(moved.url).get('/filter.wasm').expect(404);
    const offRes = await request(off.url).get('/filter.wasm').expect(404);
    expect(offRes.body.message).not.toMatch(/filter\.wasm is not available/);
    rmSync(dir, { recursive: true, force: true });
  });

  it("refuses a FILTER_ROUTE that collides with one of mesha's own routes, saying so", async () => {
    await expect(startInProcessMesha({ FILTER_ROUTE: '/metrics' })).rejects.toThrow(
      /FILTER_ROUTE \/metrics cannot be served/,
    );
  });

  it('refuses a FILTER_ROUTE that is not a path, naming the variable', () => {
    for (const bad of ['filter.wasm', '/a b', '/../x?y', '/x/']) {
      expect(() => parseConfig({ FILTER_ROUTE: bad })).toThrow(ConfigError);
      expect(() => parseConfig({ FILTER_ROUTE: bad })).toThrow(
        /FILTER_ROUTE: must be off or a path/,
      );
    }
  });
});

describe('the built mesha process (dist/main.js) with the real reporter build', () => {
  let mesha: MeshaProcess;
  beforeAll(async () => {
    mesha = await startMesha();
  });
  afterAll(async () => {
    await mesha?.stop();
    await stopAllProcesses();
  });

  it('serves k8s/reporter/build/filter.wasm by default, with the sha256 the manifests carry', async () => {
    const { readReporterBuild } = await import('../scripts/render-k8s');
    const built = readReporterBuild();
    const res = await fetch(`${mesha.url}/filter.wasm.sha256`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(`${built.sha256}\n`);
    const wasm = Buffer.from(await (await fetch(`${mesha.url}/filter.wasm`)).arrayBuffer());
    expect(wasm.length).toBe(built.size);
    expect(createHash('sha256').update(wasm).digest('hex')).toBe(built.sha256);
  });
});
