import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import wabt from 'wabt';
import { REPO_ROOT } from '../../test/support/mesha';
import { runCli } from '../src/cli';

export const BUILT_REPORTER = join(REPO_ROOT, 'k8s/reporter/build/filter.wasm');

/**
 * The module to push: the built reporter when `npm run build:wasm` has run (as `npm test` does), else a small
 * proxy-wasm-shaped module assembled from WAT, so the OCI tests do not depend on the reporter's build.
 */
export async function testWasm(): Promise<Buffer> {
  if (existsSync(BUILT_REPORTER)) return readFileSync(BUILT_REPORTER);
  const tools = await wabt();
  const module = tools.parseWat(
    'fixture.wat',
    `(module (memory (export "memory") 1)
       (func (export "proxy_abi_version_0_2_1"))
       (data (i32.const 0) "mesha oci fixture"))`,
  );
  return Buffer.from(module.toBinary({}).buffer);
}

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI in this process (the launcher itself is tested separately, once, as a real process). */
export async function cli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  stdin = '',
): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(args, {
    stdout: (l) => out.push(l),
    stderr: (l) => err.push(l),
    env: { HOME: '/nonexistent-home', ...env },
    readStdin: () => Promise.resolve(stdin),
  });
  return { code, stdout: out.join('\n'), stderr: err.join('\n') };
}
