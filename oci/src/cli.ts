import { parseArgs } from 'node:util';
import type { Credentials } from './auth';
import { list, pull, push, type RemoteOptions } from './commands';
import { OciError } from './errors';
import { defaultStoreDir } from './store';
import { printable } from './terminal-text';

export const DEFAULT_WASM_FILE = 'k8s/reporter/build/filter.wasm';

const USAGE = `Usage: mesha-wasm <command> [options]   (in this repo: npm run wasm -- <command> [options])

Commands:
  push <ref>   pack a wasm module as an OCI image Istio's WasmPlugin pulls, and push it
               --file PATH      module to push (default ${DEFAULT_WASM_FILE})
  pull <ref>   fetch an image, verify every digest, keep it in the local store
  list         show what the local store holds (ref, digest, size, date)

Options:
  --insecure            speak plain HTTP to the registry (default: HTTPS only)
  --username NAME       registry user (or MESHA_REGISTRY_USERNAME)
  --password SECRET     registry password or token (or MESHA_REGISTRY_PASSWORD; a flag shows in ps)
  --password-stdin      read the password from standard input instead
  --store DIR           local store (or MESHA_STORE; default ~/.mesha/store)
  --json                machine-readable output
  -h, --help            this text

<ref> is [oci://][registry/]repository[:tag][@sha256:...], e.g. ghcr.io/acme/mesha-reporter:0.1.0

Exit codes: 0 ok, 2 usage or bad reference, 3 registry unreachable (refused, DNS, TLS, timeout, or the
connection broke mid-transfer), 4 authentication, 5 digest mismatch, 6 registry error, 7 local store
error.`;

export interface CliIo {
  stdout: (line: string) => void;
  stderr: (line: string) => void;
  env: NodeJS.ProcessEnv;
  /** All of standard input, for --password-stdin. */
  readStdin?: () => Promise<string>;
}

const MAX_STDIN_PASSWORD = 64 * 1024;

/** Reads the whole of process.stdin, bounded. */
export async function readProcessStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of process.stdin) {
    total += (chunk as Buffer).length;
    if (total > MAX_STDIN_PASSWORD)
      throw new OciError('usage', 'the password on stdin is too long');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function credentialsFrom(values: { username?: string; password?: string }, env: NodeJS.ProcessEnv) {
  const username = values.username ?? env.MESHA_REGISTRY_USERNAME;
  const password = values.password ?? env.MESHA_REGISTRY_PASSWORD;
  if (username === undefined && password === undefined) return undefined;
  if (!username || password === undefined) {
    throw new OciError(
      'usage',
      'give both a username and a password (flags or MESHA_REGISTRY_* variables)',
    );
  }
  const credentials: Credentials = { username, password };
  return credentials;
}

function humanSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function table(rows: string[][]): string[] {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) =>
    r
      .map((cell, i) => cell.padEnd(widths[i]))
      .join('  ')
      .trimEnd(),
  );
}

/** Runs one command; returns the process exit code. Never throws. */
export async function runCli(argv: string[], rawIo: CliIo): Promise<number> {
  // Every line may carry text a registry (or a store file) chose: none reaches the terminal raw. JSON stays valid,
  // as the escapes printable() writes are JSON's own; it is never cut.
  const io = {
    ...rawIo,
    stdout: (line: string) => rawIo.stdout(printable(line)),
    stderr: (line: string) => rawIo.stderr(printable(line)),
    json: (value: unknown) => rawIo.stdout(printable(JSON.stringify(value), Infinity)),
  };
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        file: { type: 'string' },
        store: { type: 'string' },
        insecure: { type: 'boolean', default: false },
        username: { type: 'string' },
        password: { type: 'string' },
        'password-stdin': { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
    const [command, ...rest] = positionals;
    if (values.help || command === undefined || command === 'help') {
      (command === undefined && !values.help ? rawIo.stderr : rawIo.stdout)(USAGE);
      return command === undefined && !values.help ? 2 : 0;
    }
    const storeDir = values.store ?? defaultStoreDir(io.env);
    if (values['password-stdin']) {
      if (values.password !== undefined) {
        throw new OciError('usage', 'give --password or --password-stdin, not both');
      }
      // Like `docker login --password-stdin`: one trailing newline is not part of the password.
      values.password = (await (io.readStdin ?? readProcessStdin)()).replace(/\r?\n$/, '');
    }
    const remote = (): RemoteOptions => ({
      insecure: values.insecure,
      credentials: credentialsFrom(values, io.env),
    });
    const oneRef = (): string => {
      if (rest.length !== 1)
        throw new OciError('usage', `${command} takes exactly one image reference`);
      return rest[0];
    };

    switch (command) {
      case 'push': {
        const result = await push(oneRef(), values.file ?? DEFAULT_WASM_FILE, remote());
        if (values.json) io.json(result);
        else {
          io.stdout(`pushed ${result.ref}`);
          io.stdout(`  digest:      ${result.digest}   (WasmPlugin sha256 for this oci:// url)`);
          io.stdout(`  filter.wasm: sha256 ${result.wasmSha256}, ${humanSize(result.size)}`);
          io.stdout(`  url:         oci://${result.ref}`);
        }
        return 0;
      }
      case 'pull': {
        const result = await pull(oneRef(), storeDir, remote());
        if (values.json) io.json(result);
        else {
          io.stdout(`pulled ${result.ref} (${result.layout})`);
          io.stdout(`  digest:      ${result.digest}`);
          io.stdout(
            `  filter.wasm: ${result.dir}/filter.wasm, sha256 ${result.wasmSha256}, ${humanSize(result.size)}`,
          );
        }
        return 0;
      }
      case 'list': {
        if (rest.length > 0) throw new OciError('usage', 'list takes no arguments');
        const images = await list(storeDir);
        if (values.json) io.json(images);
        else if (images.length === 0) io.stdout(`the store ${storeDir} is empty`);
        else {
          const rows = [['REF', 'DIGEST', 'SIZE', 'PULLED']];
          for (const i of images) rows.push([i.ref, i.digest, humanSize(i.size), i.pulledAt]);
          for (const line of table(rows)) io.stdout(line);
        }
        return 0;
      }
      default:
        throw new OciError('usage', `unknown command "${command}" (push, pull, list)`);
    }
  } catch (err) {
    if (err instanceof OciError) {
      io.stderr(`mesha-wasm: ${err.message}`);
      return err.exitCode;
    }
    const code = (err as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) {
      io.stderr(`mesha-wasm: ${(err as Error).message}`);
      rawIo.stderr(`\n${USAGE}`);
      return 2;
    }
    const [first, ...trace] = ((err as Error)?.stack ?? String(err)).split('\n');
    io.stderr(`mesha-wasm: unexpected error: ${first}`);
    for (const line of trace) io.stderr(line);
    return 1;
  }
}

if (require.main === module) {
  void runCli(process.argv.slice(2), {
    stdout: (line) => console.log(line),
    stderr: (line) => console.error(line),
    env: process.env,
    readStdin: readProcessStdin,
  }).then((code) => {
    process.exitCode = code;
  });
}
