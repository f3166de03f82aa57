import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { buildManifestText, readReporterBuild } from '../scripts/render-k8s';

describe('scripts/render-k8s', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mesha-render-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('hashes the given build and writes a local-config ConfigMap kustomize replacements read', () => {
    const wasm = Buffer.from('\0asm\x01\0\0\0render test');
    writeFileSync(join(dir, 'filter.wasm'), wasm);
    const build = readReporterBuild(join(dir, 'filter.wasm'));
    expect(build).toEqual({
      sha256: createHash('sha256').update(wasm).digest('hex'),
      size: wasm.length,
    });
    expect(parse(buildManifestText(build))).toEqual({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: 'mesha-reporter-build',
        annotations: { 'config.kubernetes.io/local-config': 'true' },
      },
      data: { sha256: build.sha256, size: String(wasm.length) },
    });
  });

  it('says to run npm run build:wasm when there is no build', () => {
    expect(() => readReporterBuild(join(dir, 'missing.wasm'))).toThrow(
      /is missing: run `npm run build:wasm` first/,
    );
  });
});
