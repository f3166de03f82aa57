import { resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { freePort } from './ports';
import { startProcess, waitForHttpOk, type RunningProcess } from './child-process';

export const REPO_ROOT = resolve(__dirname, '..', '..');
const MESHA_MAIN = resolve(REPO_ROOT, 'dist', 'main.js');

export interface MeshaProcess extends RunningProcess {
  readonly port: number;
  readonly url: string;
  /** mesha's log lines that parse as JSON (pino), in order. */
  jsonLogs(): Array<Record<string, unknown>>;
}

/**
 * Starts the built mesha (`dist/main.js`, made by `npm run build`, which `npm test` runs first) on a free
 * loopback port (or `port`: a restart on the same address) with `env` on top of the defaults, and resolves once
 * /readyz answers 200.
 */
export async function startMesha(
  env: Record<string, string> = {},
  port?: number,
): Promise<MeshaProcess> {
  if (!existsSync(MESHA_MAIN)) throw new Error(`${MESHA_MAIN} is missing: run npm run build first`);
  port ??= await freePort();
  const proc = startProcess(process.execPath, [MESHA_MAIN], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: String(port),
      LOG_LEVEL: 'info',
      ...env,
    },
  });
  const url = `http://127.0.0.1:${port}`;
  const mesha: MeshaProcess = Object.assign(proc, {
    port,
    url,
    jsonLogs: () =>
      proc.lines.flatMap((line) => {
        try {
          const parsed: unknown = JSON.parse(line);
          return parsed !== null && typeof parsed === 'object'
            ? [parsed as Record<string, unknown>]
            : [];
        } catch {
          return [];
        }
      }),
  });
  try {
    await waitForHttpOk(mesha, `${url}/readyz`);
  } catch (err) {
    await mesha.stop('SIGKILL', 0);
    throw err;
  }
  return mesha;
}
