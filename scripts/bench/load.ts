/**
 * Load generator, run in its own process so it never shares an event loop with a server under test.
 * Usage: tsx scripts/bench/load.ts '<json LoadOptions>'; prints one JSON LoadResult line on stdout.
 */
import { createRequire } from 'node:module';
import { startProcess } from '../../test/support/child-process';

export interface LoadOptions {
  url: string;
  connections: number;
  /** Seconds; ignored when `amount` is set. */
  duration?: number;
  /** Total requests to send instead of a duration. */
  amount?: number;
  method: string;
  headers: Record<string, string>;
  body: string;
  /** Replace `[<id>]` in headers/body with a unique id per request. */
  idReplacement?: boolean;
}

export interface LoadResult {
  requests: number;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  timeouts: number;
  non2xx: number;
}

interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number };
  errors: number;
  timeouts: number;
  non2xx: number;
}
type Autocannon = (
  options: LoadOptions & { timeout: number },
  done: (err: Error | null, result: AutocannonResult) => void,
) => unknown;

const autocannon = createRequire(__filename)('autocannon') as Autocannon;

function run(options: LoadOptions): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    autocannon({ ...options, timeout: 10 }, (err, result) => {
      if (err) return reject(err);
      resolve({
        requests: result.requests.total,
        rps: result.requests.average,
        p50: result.latency.p50,
        p99: result.latency.p99,
        errors: result.errors,
        timeouts: result.timeouts,
        non2xx: result.non2xx,
      });
    });
  });
}

/** Runs this file in a child process with `options` and resolves with the LoadResult it prints. */
export async function loadInChildProcess(options: LoadOptions): Promise<LoadResult> {
  const proc = startProcess(process.execPath, [
    '--import',
    'tsx',
    __filename,
    JSON.stringify(options),
  ]);
  const { code } = await proc.exited;
  await proc.closed;
  const line = proc.lines.filter((l) => l.startsWith('{')).at(-1);
  if (code !== 0 || line === undefined) {
    throw new Error(`load generator exited ${code}:\n${proc.output()}`);
  }
  return JSON.parse(line) as LoadResult;
}

if (require.main === module) {
  run(JSON.parse(process.argv[2] ?? '{}') as LoadOptions).then(
    (result) => console.log(JSON.stringify(result)),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
