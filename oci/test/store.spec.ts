import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OciError } from '../src/errors';
import { imageDir, type ImageToStore, saveImage } from '../src/store';

const REF = 'registry.test/mesha/filter:1';

function image(wasm: string): ImageToStore {
  return {
    ref: REF,
    manifest: Buffer.from(`{"manifest":"${wasm}"}`),
    layer: { mediaType: 'application/octet-stream', digest: 'sha256:00', size: 1 },
    wasm: Buffer.from(wasm),
    layout: 'oci-compat-image',
    now: new Date('2026-01-01T00:00:00Z'),
  };
}

describe('saveImage', () => {
  let store: string;

  beforeEach(() => {
    store = mkdtempSync(join(tmpdir(), 'mesha-store-'));
  });

  afterEach(() => {
    rmSync(store, { recursive: true, force: true });
  });

  it('replaces an image already in the store', async () => {
    await saveImage(store, image('old'));
    const dir = await saveImage(store, image('new'));
    expect(dir).toBe(imageDir(store, REF));
    expect(readFileSync(join(dir, 'filter.wasm'), 'utf8')).toBe('new');
    expect(readdirSync(store)).toEqual([imageDir(store, REF).slice(store.length + 1)]);
  });

  it('keeps the old image and leaves no temporary folder when moving the new one in fails', async () => {
    const dir = await saveImage(store, image('old'));
    const target = imageDir(store, REF);
    const failingMoveIn = {
      rename: async (from: string, to: string) => {
        if (to === target && !from.endsWith('.old')) {
          throw Object.assign(new Error('EIO: injected failure'), { code: 'EIO' });
        }
        await rename(from, to);
      },
    };
    const attempt = saveImage(store, image('new'), failingMoveIn);
    await expect(attempt).rejects.toThrow(OciError);
    await expect(attempt).rejects.toThrow(/cannot write the store .*injected failure/);
    expect(readFileSync(join(dir, 'filter.wasm'), 'utf8')).toBe('old');
    expect(readdirSync(store)).toEqual([target.slice(store.length + 1)]);
  });
});
