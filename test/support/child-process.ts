import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { WaitAborted, waitFor } from './wait-for';

/** A process started by a test: its output is kept, and stop() always ends it. */
export interface RunningProcess {
  readonly proc: ChildProcess;
  /** stdout and stderr lines, in arrival order. */
  readonly lines: string[];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves once the process has exited and its stdout and stderr have closed (all lines are in). */
  readonly closed: Promise<void>;
  /** Sends `signal` (SIGTERM by default), then SIGKILL after `graceMs`; resolves once the process is gone. */
  stop(
    signal?: NodeJS.Signals,
    graceMs?: number,
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output(): string;
}

const running = new Set<RunningProcess>();

export function startProcess(
  command: string,
  args: string[],
  options: SpawnOptions = {},
): RunningProcess {
  const proc = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  const lines: string[] = [];
  const collect = (stream: NodeJS.ReadableStream | null) => {
    let rest = '';
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => {
      const parts = (rest + chunk).split('\n');
      rest = parts.pop() ?? '';
      lines.push(...parts);
    });
    stream?.on('end', () => {
      if (rest) lines.push(rest);
    });
  };
  collect(proc.stdout);
  collect(proc.stderr);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.on('exit', (code, signal) => resolve({ code, signal }));
    proc.on('error', () => resolve({ code: null, signal: null }));
  });
  const closed = new Promise<void>((resolve) => {
    proc.on('close', () => resolve());
    proc.on('error', () => resolve());
  });
  const handle: RunningProcess = {
    proc,
    lines,
    exited,
    closed,
    output: () => lines.join('\n'),
    async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 10_000) {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill(signal);
        const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
        const result = await exited;
        clearTimeout(timer);
        running.delete(handle);
        return result;
      }
      running.delete(handle);
      return exited;
    },
  };
  running.add(handle);
  void exited.then(() => running.delete(handle));
  return handle;
}

/** Kills whatever a test file left running; call from afterAll as a last resort. */
export async function stopAllProcesses(): Promise<void> {
  await Promise.all([...running].map((p) => p.stop('SIGKILL', 0)));
}

/** Waits until `url` answers 2xx, failing early (with the process output) if the process exits. */
export async function waitForHttpOk(
  target: RunningProcess,
  url: string,
  timeoutMs = 30_000,
): Promise<void> {
  await waitFor(
    `${url} to answer 2xx`,
    async () => {
      if (target.proc.exitCode !== null || target.proc.signalCode !== null) {
        const { exitCode, signalCode } = target.proc;
        throw new WaitAborted(`process exited early (code ${exitCode}, signal ${signalCode})`);
      }
      const res = await fetch(url).catch(() => undefined);
      return res?.ok === true;
    },
    { timeoutMs, intervalMs: 50 },
  ).catch(async (err: Error) => {
    if (err instanceof WaitAborted) {
      // Exit can be reported before the pipes drain; the last lines usually say why it exited.
      let timer: NodeJS.Timeout | undefined;
      const drained = new Promise<void>((resolve) => (timer = setTimeout(resolve, 5_000)));
      await Promise.race([target.closed, drained]);
      clearTimeout(timer);
    }
    throw new Error(`${err.message}\n--- process output ---\n${target.output()}`);
  });
}
