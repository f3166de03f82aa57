import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startProcess, stopAllProcesses } from '../../test/support/child-process';
import { REPO_ROOT } from '../../test/support/mesha';

// The package's `bin` as a real process: exit codes and streams as a shell sees them.
describe('oci/bin/mesha-wasm.js', () => {
  const store = mkdtempSync(join(tmpdir(), 'mesha-launcher-'));
  const launcher = join(REPO_ROOT, 'oci/bin/mesha-wasm.js');

  afterAll(async () => {
    await stopAllProcesses();
    rmSync(store, { recursive: true, force: true });
  });

  it('runs a command and exits 0', async () => {
    const proc = startProcess(process.execPath, [launcher, 'list', '--store', store]);
    expect(await proc.exited).toEqual({ code: 0, signal: null });
    expect(proc.output()).toContain(`the store ${store} is empty`);
  });

  it('exits non-zero with a message on stderr for a bad reference', async () => {
    const proc = startProcess(process.execPath, [launcher, 'pull', 'NOT/valid', '--store', store]);
    expect(await proc.exited).toEqual({ code: 2, signal: null });
    expect(proc.output()).toMatch(/^mesha-wasm: invalid image reference "NOT\/valid"/m);
  });
});
