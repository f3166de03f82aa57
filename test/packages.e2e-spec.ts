import { execFile as execFileCb } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { promisify } from 'node:util';
import { packCompatImage } from '../oci/src/pack';
import { streamPlugin } from '../wasm-host/test/support/stream-plugin';
import { startProcess, stopAllProcesses } from './support/child-process';
import { REPO_ROOT } from './support/mesha';
import { waitFor } from './support/wait-for';

// wasm-host and the OCI CLI as others get them: `npm pack` of each workspace package (its prepack compiles
// src/ to dist/), installed into a fresh project outside this repository with `npm install --offline` (the
// tarballs, plus tarballs of their runtime dependencies packed from this checkout's node_modules, so no registry
// is asked), then used there: the library API, the `mesha-sidecar` and `mesha-wasm` bins, and the types.
const execFile = promisify(execFileCb);
/** Runs a command; a failure says what it printed (tsc reports its errors on stdout). */
const run = (cmd: string, args: string[], cwd: string) =>
  execFile(cmd, args, {
    cwd,
    encoding: 'utf8',
    timeout: 240_000,
    maxBuffer: 16 * 1024 * 1024,
  }).catch((err: Error & { stdout?: string; stderr?: string }) => {
    err.message += `\n${err.stdout ?? ''}${err.stderr ?? ''}`;
    throw err;
  });
const TSC = join(REPO_ROOT, 'node_modules/typescript/bin/tsc');

interface Packed {
  name: string;
  filename: string;
  files: string[];
  dependencies: string[];
}

async function npmPack(packageDir: string, into: string): Promise<Packed> {
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', into], packageDir);
  const [info] = JSON.parse(stdout) as Array<{
    name: string;
    filename: string;
    files: Array<{ path: string }>;
  }>;
  const manifest = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as {
    dependencies?: Record<string, string>;
  };
  return {
    name: info.name,
    filename: join(into, info.filename),
    files: info.files.map((f) => f.path).sort(),
    dependencies: Object.keys(manifest.dependencies ?? {}),
  };
}

/** The folders, in this checkout's node_modules, of `names` and everything they depend on at run time. */
function runtimeClosure(names: string[]): string[] {
  const find = (name: string, from: string): string => {
    for (let dir = from; ; dir = dirname(dir)) {
      const candidate = join(dir, 'node_modules', name);
      if (existsSync(join(candidate, 'package.json'))) return candidate;
      if (dir === REPO_ROOT) throw new Error(`${name} is not installed (needed from ${from})`);
    }
  };
  const found = new Set<string>();
  const queue = names.map((name) => ({ name, from: REPO_ROOT }));
  for (let next = queue.shift(); next; next = queue.shift()) {
    const dir = find(next.name, next.from);
    if (found.has(dir)) continue;
    found.add(dir);
    const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>;
    };
    for (const dep of Object.keys(manifest.dependencies ?? {}))
      queue.push({ name: dep, from: dir });
  }
  return [...found];
}

/** Every .ts file under src/ (not .d.ts), as the .js path it must compile to in the tarball. */
function expectedOutputs(packageDir: string): string[] {
  const src = join(packageDir, 'src');
  return readdirSync(src, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts'))
    .map((e) => `dist/${relative(src, join(e.parentPath, e.name)).replace(/\.ts$/, '.js')}`)
    .sort();
}

describe('wasm-host and the OCI CLI as installable packages', () => {
  let work: string;
  let project: string;
  let host: Packed;
  let oci: Packed;
  let plugin: string;
  let upstream: Server;
  let upstreamUrl: string;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'mesha-packages-'));
    const tarballs = join(work, 'tarballs');
    mkdirSync(tarballs);
    host = await npmPack(join(REPO_ROOT, 'wasm-host'), tarballs);
    oci = await npmPack(join(REPO_ROOT, 'oci'), tarballs);
    const deps = runtimeClosure([...host.dependencies, ...oci.dependencies]);
    const depTarballs: string[] = [];
    if (deps.length > 0) {
      const { stdout } = await run(
        'npm',
        ['pack', '--json', '--pack-destination', tarballs, ...deps],
        work,
      );
      for (const d of JSON.parse(stdout) as Array<{ filename: string }>)
        depTarballs.push(join(tarballs, d.filename));
    }
    project = join(work, 'project');
    mkdirSync(project);
    writeFileSync(
      join(project, 'package.json'),
      JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }),
    );
    await run(
      'npm',
      [
        'install',
        '--offline',
        '--no-audit',
        '--no-fund',
        host.filename,
        oci.filename,
        ...depTarballs,
      ],
      project,
    );
    plugin = join(project, 'plugin.wasm');
    writeFileSync(plugin, await streamPlugin());
    upstream = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'x-secret': 's' }).end('hello');
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  }, 300_000);

  afterAll(async () => {
    await stopAllProcesses();
    upstream?.closeAllConnections();
    await new Promise((resolve) => (upstream ? upstream.close(resolve) : resolve(undefined)));
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it.each(['wasm-host', 'oci'])(
    '%s packs compiled JS and types for all of src/, its bin, README and LICENSE, no sources',
    (dir) => {
      const packed = dir === 'oci' ? oci : host;
      const files = packed.files;
      for (const js of expectedOutputs(join(REPO_ROOT, dir))) {
        expect(files).toContain(js);
        expect(files).toContain(js.replace(/\.js$/, '.d.ts'));
      }
      expect(files).toEqual(expect.arrayContaining(['LICENSE', 'README.md', 'package.json']));
      const manifest = JSON.parse(readFileSync(join(REPO_ROOT, dir, 'package.json'), 'utf8')) as {
        bin: Record<string, string>;
        license: string;
      };
      expect(manifest.license).toBe('Apache-2.0');
      for (const bin of Object.values(manifest.bin)) expect(files).toContain(bin);
      expect(files.filter((f) => /^(src|test)\//.test(f) || /(?<!\.d)\.ts$/.test(f))).toEqual([]);
    },
  );

  it('installs with no registry and runs a plugin through the library API', async () => {
    const script = join(project, 'use-host.js');
    writeFileSync(
      script,
      `const { ProxyWasmHost } = require('@mesha/wasm-host');
       (async () => {
         const host = await ProxyWasmHost.start({ wasm: process.argv[2], concurrency: 1 });
         const result = await host.runStream(
           { method: 'GET', path: '/a', authority: 'svc', headers: [['x-mode', 'n']] },
           async (forwarded) => ({ status: 200, headers: [['x-seen', String(forwarded.headers.length)]], body: 'hello' }),
         );
         console.log(JSON.stringify({ status: result.status, headers: result.headers, body: result.body.toString() }));
         await host.close();
       })().catch((err) => { console.error(err); process.exit(1); });`,
    );
    const { stdout } = await run(process.execPath, [script, plugin], project);
    const result = JSON.parse(stdout) as { status: number; headers: string[][]; body: string };
    expect(result.status).toBe(200);
    expect(result.body).toBe('hello!');
    expect(result.headers).toContainEqual(['x-plugin', 'wat']);
    // The module came from the project's node_modules, not from this repository.
    const resolved = await run(
      process.execPath,
      ['-p', "require.resolve('@mesha/wasm-host')"],
      project,
    );
    expect(resolved.stdout.trim()).toBe(
      join(project, 'node_modules/@mesha/wasm-host/dist/index.js'),
    );
  });

  it('runs the plugin in the mesha-sidecar bin, proxying real HTTP', async () => {
    const sidecar = startProcess(
      join(project, 'node_modules/.bin/mesha-sidecar'),
      [
        '--wasm',
        plugin,
        '--upstream',
        upstreamUrl,
        '--listen',
        '127.0.0.1:0',
        '--admin',
        '127.0.0.1:0',
        '--concurrency',
        '1',
      ],
      { cwd: project },
    );
    const port = await waitFor(
      'the installed sidecar to listen',
      () => {
        if (sidecar.proc.exitCode !== null) throw new Error(`sidecar exited:\n${sidecar.output()}`);
        const line = sidecar.lines.find((l) => l.startsWith('sidecar listening on'));
        return line ? Number(/http:\/\/127\.0\.0\.1:(\d+)/.exec(line)?.[1]) : undefined;
      },
      { timeoutMs: 30_000 },
    );
    const res = await fetch(`http://127.0.0.1:${port}/through`, { headers: { 'x-mode': 'n' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-plugin')).toBe('wat');
    expect(res.headers.get('x-secret')).toBeNull();
    expect(await res.text()).toBe('hello!');
    expect(await sidecar.stop('SIGTERM', 10_000)).toEqual({ code: 0, signal: null });
  });

  it('runs the mesha-wasm bin and the OCI library from the installed package', async () => {
    const store = join(work, 'store');
    const listed = await run(
      join(project, 'node_modules/.bin/mesha-wasm'),
      ['list', '--store', store],
      project,
    );
    expect(listed.stdout.trim()).toBe(`the store ${store} is empty`);
    const bad = await run(
      join(project, 'node_modules/.bin/mesha-wasm'),
      ['pull', 'NOT/valid'],
      project,
    ).catch((err: { code: number; stderr: string }) => err);
    expect(bad).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/invalid image reference/),
    });
    const digest = await run(
      process.execPath,
      [
        '-e',
        `require('@mesha/oci').packCompatImage(require('fs').readFileSync(process.argv[1]))
           .then((image) => console.log(image.manifestDigest))`,
        plugin,
      ],
      project,
    );
    expect(digest.stdout.trim()).toBe((await packCompatImage(readFileSync(plugin))).manifestDigest);
  });

  it('type-checks a strict TypeScript consumer against the packaged declarations', async () => {
    writeFileSync(
      join(project, 'check.ts'),
      `import { ProxyWasmHost, type StreamResult } from '@mesha/wasm-host';
       import { packCompatImage, parseImageRef, type PushResult } from '@mesha/oci';
       export async function check(wasm: Uint8Array): Promise<[StreamResult, string, PushResult | null]> {
         const host = await ProxyWasmHost.start({ wasm, concurrency: 1 });
         const image = await packCompatImage(Buffer.from(wasm));
         const result = await host.runStream({ method: 'GET', path: '/' }, async () => ({ status: 200, body: 'x' }));
         return [result, parseImageRef('ghcr.io/acme/x:1').canonical + image.manifestDigest, null];
       }`,
    );
    await run(
      process.execPath,
      [
        TSC,
        '--noEmit',
        '--strict',
        '--module',
        'commonjs',
        '--moduleResolution',
        'node',
        '--target',
        'ES2022',
        '--lib',
        'ES2022',
        '--types',
        'node',
        '--typeRoots',
        join(REPO_ROOT, 'node_modules/@types'),
        'check.ts',
      ],
      project,
    );
  });
});
