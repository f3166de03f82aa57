import { resolve } from 'node:path';
import { startProcess, type RunningProcess } from '../../../test/support/child-process';
import { waitFor } from '../../../test/support/wait-for';

export const REPO = resolve(__dirname, '..', '..', '..');

/** Spawns the sidecar CLI; resolves with its ports once it printed its listening line. */
export async function startSidecarCli(
  args: string[],
): Promise<{ proc: RunningProcess; url: string; admin: string }> {
  const proc = startProcess(
    process.execPath,
    ['--import', 'tsx', 'wasm-host/src/cli/sidecar.ts', ...args],
    {
      cwd: REPO,
    },
  );
  const match = await waitFor(
    'the sidecar to print its listening line',
    () => {
      if (proc.proc.exitCode !== null) throw new Error(`sidecar exited:\n${proc.output()}`);
      for (const line of proc.lines) {
        const m = /listening on (http:\/\/[\d.:]+) admin (http:\/\/[\d.:]+)/.exec(line);
        if (m) return m;
      }
      return undefined;
    },
    { timeoutMs: 30_000 },
  );
  return { proc, url: match[1], admin: match[2] };
}
