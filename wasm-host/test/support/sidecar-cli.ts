import { resolve } from 'node:path';
import { startProcess, type RunningProcess } from '../../../test/support/child-process';
import { WaitAborted, waitFor } from '../../../test/support/wait-for';

export const REPO = resolve(__dirname, '..', '..', '..');

/**
 * Spawns the sidecar CLI (on free loopback ports unless `args` name --listen/--admin); resolves with
 * its addresses once it printed its listening line, and fails at once if it exits before that.
 */
export async function startSidecarCli(
  args: string[],
): Promise<{ proc: RunningProcess; url: string; admin: string }> {
  const freePorts = [
    ...(args.includes('--listen') ? [] : ['--listen', '127.0.0.1:0']),
    ...(args.includes('--admin') ? [] : ['--admin', '127.0.0.1:0']),
  ];
  const proc = startProcess(
    process.execPath,
    ['--import', 'tsx', 'wasm-host/src/cli/sidecar.ts', ...args, ...freePorts],
    {
      cwd: REPO,
    },
  );
  const match = await waitFor(
    'the sidecar to print its listening line',
    () => {
      if (proc.proc.exitCode !== null) throw new WaitAborted(`sidecar exited:\n${proc.output()}`);
      for (const line of proc.lines) {
        const m = /listening on ((?:http|tcp):\/\/[\d.:]+) admin (http:\/\/[\d.:]+)/.exec(line);
        if (m) return m;
      }
      return undefined;
    },
    { timeoutMs: 30_000 },
  );
  return { proc, url: match[1], admin: match[2] };
}
