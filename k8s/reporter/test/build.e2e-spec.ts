import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../../../test/support/mesha';
import { pluginBytes } from './support';

const run = promisify(execFile);
const ASC = resolve(REPO_ROOT, 'node_modules', 'assemblyscript', 'bin', 'asc.js');
/** The size guard of issue #8 (32 KB), with the Istio mode in (27,216 bytes on the minimal runtime; see
 * k8s/reporter/README.md). */
const SIZE_BUDGET_BYTES = 32 * 1024;

async function build(outFile: string): Promise<Buffer> {
  await run(
    process.execPath,
    [
      ASC,
      '--config',
      'k8s/reporter/asconfig.json',
      '--target',
      'release',
      '--transform',
      './k8s/reporter/assembly/ascii-transform.mjs',
      '--outFile',
      outFile,
    ],
    { cwd: REPO_ROOT },
  );
  return readFile(outFile);
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('reporter build', () => {
  let dir: string;
  let first: Buffer;
  let second: Buffer;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'reporter-build-'));
    [first, second] = await Promise.all([build(join(dir, 'a.wasm')), build(join(dir, 'b.wasm'))]);
  }, 120_000);
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('is deterministic: two builds give the same bytes', () => {
    expect(first.length).toBeGreaterThan(0);
    expect(sha256(second)).toBe(sha256(first));
  });

  it.each([
    ['a fresh build', () => first],
    ['k8s/reporter/build/filter.wasm', () => Buffer.from(pluginBytes())],
  ])(
    '%s is loadable by Envoy: ABI 0.2.1, memory, allocator, _initialize, no env.abort',
    (_, bytes) => {
      const module = new WebAssembly.Module(bytes());
      const exports = WebAssembly.Module.exports(module).map((e) => `${e.kind}:${e.name}`);
      for (const name of [
        'function:proxy_abi_version_0_2_1',
        'memory:memory',
        'function:malloc',
        'function:proxy_on_memory_allocate',
        'function:_initialize',
        'function:proxy_on_context_create',
        'function:proxy_on_vm_start',
        'function:proxy_on_configure',
        'function:proxy_on_tick',
        'function:proxy_on_http_call_response',
        'function:proxy_on_request_headers',
        'function:proxy_on_response_headers',
        'function:proxy_on_delete',
      ]) {
        expect(exports).toContain(name);
      }
      expect(exports).not.toContain('function:_start');
      const imports = WebAssembly.Module.imports(module).map((i) => `${i.module}.${i.name}`);
      expect(imports).not.toContain('env.abort');
      expect(imports).not.toContain('env.trace');
      expect(imports).not.toContain('env.seed');
      for (const name of imports) {
        expect(name).toMatch(/^(env\.proxy_[a-z_]+|wasi_snapshot_preview1\.random_get)$/);
      }
    },
  );

  it(`stays within the size budget (${SIZE_BUDGET_BYTES} bytes)`, () => {
    expect(first.length).toBeLessThanOrEqual(SIZE_BUDGET_BYTES);
  });
});
