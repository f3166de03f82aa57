import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { startRegistry, type TestRegistry } from '../oci/test/registry';
import { freePort } from './support/ports';
import { REPO_ROOT } from './support/mesha';
import { waitFor } from './support/wait-for';
import { shellCommands, type ReadmeCommand } from './readme-walk';

// The README walk: every command in the `sh` blocks of README.md and k8s/README.md either runs here as written
// (a runner below, keyed by the command's text) or is skipped with the reason (SKIPPED). A command in neither
// fails the suite, so a README change cannot add a command nobody runs; an entry whose command left the READMEs
// fails too, so the lists stay true.
//
// Commands run with `sh -c` in a copy of this checkout (without node_modules, which is linked, and without build
// output), so they build and write there and never under the other suites' feet. Two things differ from a
// newcomer's machine, both to run beside other tests: mesha listens on a free loopback port instead of 7171,
// and the README's local registry (127.0.0.1:5000) is a docker-registry on a free port; the commands' text is
// otherwise untouched.
const READMES = ['README.md', 'k8s/README.md'];
const COMMANDS: ReadmeCommand[] = READMES.flatMap((file) =>
  shellCommands(file, readFileSync(join(REPO_ROOT, file), 'utf8')),
);

const CLUSTER =
  'needs a Kubernetes cluster (none here; the manifests are rendered and checked below)';
const SKIPPED: Record<string, string> = {
  'npm test': 'it is the command that runs this suite',
  'docker build -t REGISTRY/mesha:TAG .':
    'no Docker on this machine (the image runs `npm run start:prod`; the build steps it uses run here)',
  'kubectl -n mesha run wasm-check --rm -i --restart=Never --image=curlimages/curl -- curl -s http://mesha.mesha.svc.cluster.local:7171/filter.wasm.sha256':
    CLUSTER,
  'npm run wasm -- push ghcr.io/acme/mesha-reporter:0.1.0':
    'pushes to ghcr.io (no internet here); the same push to a local registry runs',
  'MESHA_REGISTRY_USERNAME=me MESHA_REGISTRY_PASSWORD=token npm run wasm -- push REGISTRY/REPO:TAG':
    'REGISTRY/REPO:TAG stands for a private HTTPS registry; credentials from the environment are tested against a real htpasswd registry in oci/test/registry.e2e-spec.ts',
  'echo "$TOKEN" | npm run wasm -- push REGISTRY/REPO:TAG --username me --password-stdin':
    'REGISTRY/REPO:TAG stands for a private HTTPS registry; --password-stdin is tested against a real htpasswd registry in oci/test/registry.e2e-spec.ts',
  'npm run wasm -- pull ghcr.io/acme/mesha-reporter:0.1.0':
    'pulls from ghcr.io (no internet here); a pull from the local registry runs before `list`',
  'kubectl apply -k k8s/overlays/generic': CLUSTER,
  'kubectl -n mesha rollout status deploy/mesha': CLUSTER,
  'kubectl -n mesha label pod -l app=my-app mesha.dev/reporter=enabled': CLUSTER,
  'kubectl -n istio12 logs deploy/mesha -c mesha -f | grep \'"event":"report"\'': CLUSTER,
  'kubectl -n istio12 logs <some-pod> -c istio-proxy | grep -i wasm': CLUSTER,
  'istioctl -n istio12 proxy-config cluster <some-pod> --fqdn mesha.istio12.svc.cluster.local':
    'needs istioctl and a mesh',
  'istioctl -n istio12 proxy-config ecds <some-pod>': 'needs istioctl and a mesh',
  "kubectl -n istio12 logs <some-pod> -c istio-proxy | grep -i 'wasm.*fetch\\|sha256'": CLUSTER,
  'kubectl -n istio12 port-forward deploy/mesha 7171 &': CLUSTER,
  'curl -s localhost:7171/metrics | grep ^mesha_':
    "reads a port-forward to the cluster's mesha; the same scrape of a local mesha runs in the smoke test",
};

interface ShellResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** What the walk has set up so far, shared by the runners in document order. */
interface Walk {
  dir: string;
  env: NodeJS.ProcessEnv;
  meshaPort?: number;
  mesha?: ChildProcess;
  registry?: TestRegistry;
  store: string;
}

const children = new Set<ChildProcess>();

/** `sh -c text` in the copy, in its own process group so that teardown (or a timeout) ends all of it. */
function sh(walk: Walk, text: string, timeoutMs = 180_000): Promise<ShellResult> {
  return new Promise((resolve) => {
    const child = spawn('sh', ['-c', text], {
      cwd: walk.dir,
      env: walk.env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => killGroup(child, 'SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code, stdout, stderr });
    });
  });
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

async function stopGroup(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  killGroup(child, 'SIGTERM');
  const timer = setTimeout(() => killGroup(child, 'SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

/** The README's addresses, as this machine has them (see the top of the file). */
function onThisMachine(walk: Walk, text: string): string {
  let out = text;
  if (walk.meshaPort !== undefined)
    out = out.replaceAll('127.0.0.1:7171', `127.0.0.1:${walk.meshaPort}`);
  if (walk.registry) out = out.replaceAll('127.0.0.1:5000', walk.registry.host);
  return out;
}

async function expectSuccess(walk: Walk, text: string, timeoutMs?: number): Promise<ShellResult> {
  const result = await sh(walk, onThisMachine(walk, text), timeoutMs);
  if (result.code !== 0) {
    throw new Error(`\`${text}\` exited ${result.code}\n${result.stdout}\n${result.stderr}`);
  }
  return result;
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/**
 * `npm ci` is not run in the copy (it would rebuild the node_modules this suite runs on): it runs as a dry run,
 * offline, on the manifests alone, which fails when package.json and the lock disagree and prints npm's
 * warnings (engines, deprecations) when there are any. The install itself is what every other test stands on.
 */
async function checkNpmCi(walk: Walk): Promise<void> {
  const dir = join(walk.dir, '.npm-ci-check');
  for (const file of ['package.json', 'package-lock.json', '.npmrc']) {
    if (existsSync(join(walk.dir, file))) cpSync(join(walk.dir, file), join(dir, file));
  }
  const root = JSON.parse(readFileSync(join(walk.dir, 'package.json'), 'utf8')) as {
    workspaces?: string[];
  };
  for (const ws of root.workspaces ?? []) {
    cpSync(join(walk.dir, ws, 'package.json'), join(dir, ws, 'package.json'));
  }
  const result = await sh(
    { ...walk, dir },
    'npm ci --dry-run --offline --ignore-scripts --no-audit',
    120_000,
  );
  expect(result.stderr).not.toMatch(/npm (warn|error)/i);
  expect(result.code).toBe(0);
  expect(result.stdout).toMatch(/added \d+ packages/);
  // A dry run does not reach install scripts: npm 11 warns about every package that has one and is not in
  // allowScripts, so each must be there (allowed or denied on purpose).
  const lock = JSON.parse(readFileSync(join(walk.dir, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { hasInstallScript?: boolean }>;
  };
  const allowScripts = (
    JSON.parse(readFileSync(join(walk.dir, 'package.json'), 'utf8')) as {
      allowScripts?: Record<string, boolean>;
    }
  ).allowScripts;
  const withScripts = Object.entries(lock.packages)
    .filter(([path, entry]) => entry.hasInstallScript && path.includes('node_modules/'))
    .map(([path]) => path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length));
  expect(withScripts.filter((name) => !(name in (allowScripts ?? {})))).toEqual([]);
}

const RUNNERS: Record<string, (walk: Walk, cmd: ReadmeCommand) => Promise<void>> = {
  'npm ci && npm start': async (walk) => {
    await checkNpmCi(walk);
    // npm start as written, but on a free loopback port (HOST and PORT are the only settings given).
    walk.meshaPort = await freePort();
    const child = spawn('sh', ['-c', 'npm start'], {
      cwd: walk.dir,
      env: { ...walk.env, HOST: '127.0.0.1', PORT: String(walk.meshaPort) },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    walk.mesha = child;
    let log = '';
    child.stdout?.setEncoding('utf8').on('data', (c: string) => (log += c));
    child.stderr?.setEncoding('utf8').on('data', (c: string) => (log += c));
    await waitFor(
      'npm start to serve /readyz',
      async () => {
        if (child.exitCode !== null) throw new Error(`npm start exited ${child.exitCode}:\n${log}`);
        const res = await fetch(`http://127.0.0.1:${walk.meshaPort}/readyz`).catch(() => undefined);
        return res?.status === 200;
      },
      { timeoutMs: 150_000, intervalMs: 250 },
    );
    // Log lines reach stdout in batches (every 200 ms at most): wait for the line, not just /readyz.
    await waitFor('the "mesha listening" log line', () => /mesha listening/.test(log));
  },
  'npm ci': (walk) => checkNpmCi(walk),
  "curl -s -X POST 'http://127.0.0.1:7171/wasmCallback?app=demo' -H 'melonMsg: my header from wasm envoy reporter' --data-binary \"i'm wasm from wasm filter !!!\"":
    async (walk, cmd) => {
      const { stdout } = await expectSuccess(walk, cmd.text);
      expect(stdout).toBe(cmd.following.join('\n'));
    },
  "curl -s http://127.0.0.1:7171/metrics | grep '^mesha_reports_total'": async (walk, cmd) => {
    const { stdout } = await expectSuccess(walk, cmd.text);
    expect(stdout.trim()).toBe(cmd.following.join('\n'));
  },
  'npm run demo': async (walk, cmd) => {
    // The README's own hint: `-- --once` exits once mesha counted every request.
    expect(cmd.comment).toContain('`-- --once`');
    const { stdout } = await expectSuccess(walk, 'npm run demo -- --once', 240_000);
    const counted = /mesha counted (\d+) of (\d+) requests/.exec(stdout);
    expect(counted).not.toBeNull();
    expect(counted?.[1]).toBe(counted?.[2]);
    expect(stdout).toContain('--once: done');
  },
  'npm run sidecar -- --help': async (walk, cmd) => {
    const { stdout } = await expectSuccess(walk, cmd.text);
    expect(stdout).toMatch(/usage: .*--upstream URL/);
    expect(stdout).toContain('--wasm FILE');
  },
  'npm run wasm -- --help': async (walk, cmd) => {
    const { stdout } = await expectSuccess(walk, cmd.text);
    expect(stdout).toMatch(/push <ref>[\s\S]*pull <ref>[\s\S]*list/);
    expect(stdout).toMatch(/Exit codes: 0 ok/);
  },
  'npm run build:wasm': async (walk, cmd) => {
    await expectSuccess(walk, cmd.text);
    const built = join(walk.dir, 'k8s/reporter/build/filter.wasm');
    expect(readFileSync(built).subarray(0, 4)).toEqual(Buffer.from('\0asm', 'latin1'));
  },
  'npm run k8s:render': async (walk, cmd) => {
    const file = 'k8s/base/reporter-build.yaml';
    const committed = readFileSync(join(walk.dir, file), 'utf8');
    await expectSuccess(walk, cmd.text);
    // The committed sha256 is the fresh build's, so rendering changes nothing ("commit that file").
    expect(readFileSync(join(walk.dir, file), 'utf8')).toBe(committed);
  },
  'grep sha256 k8s/base/reporter-build.yaml': async (walk, cmd) => {
    const { stdout } = await expectSuccess(walk, cmd.text);
    const wasm = readFileSync(join(walk.dir, 'k8s/reporter/build/filter.wasm'));
    expect(stdout).toContain(sha256(wasm)); // "the same hex"
  },
  'npm run wasm -- push 127.0.0.1:5000/mesha/reporter:0.1.0 --insecure': async (walk, cmd) => {
    walk.registry = await startRegistry();
    const { stdout } = await expectSuccess(walk, cmd.text);
    expect(stdout).toContain(`pushed ${walk.registry.host}/mesha/reporter:0.1.0`);
    expect(stdout).toMatch(/digest: +sha256:[a-f0-9]{64}/);
  },
  'npm run wasm -- list': async (walk, cmd) => {
    // The README's pull is from ghcr.io; pull what the walk pushed instead, so the list has a row.
    const ref = `${walk.registry?.host ?? '127.0.0.1:5000'}/mesha/reporter:0.1.0`;
    await expectSuccess(walk, `npm run wasm -- pull ${ref} --insecure`);
    const { stdout } = await expectSuccess(walk, cmd.text);
    const lines = stdout.split('\n').filter((l) => /\S/.test(l) && !l.startsWith('>'));
    expect(lines[0].split(/\s+/)).toEqual(cmd.comment?.split(/\s+/));
    expect(lines[1]).toMatch(
      new RegExp(`^${ref.replace(/[.]/g, '\\.')}\\s+sha256:[a-f0-9]{64}\\s`),
    );
  },
  'kubectl kustomize k8s/overlays/generic': async (walk, cmd) => {
    const { stdout } = await expectSuccess(walk, cmd.text);
    expect(stdout).toContain('kind: WasmPlugin');
    // The prose applies the other overlays the same way: each renders too.
    for (const overlay of readdirSync(join(walk.dir, 'k8s/overlays'))) {
      const rendered = await expectSuccess(walk, `kubectl kustomize k8s/overlays/${overlay}`);
      expect(rendered.stdout).toMatch(/kind: Deployment/);
    }
  },
};

/** Build output and installed packages stay behind; node_modules is linked. */
const NOT_COPIED = new Set([
  '.git',
  'node_modules',
  'dist',
  'coverage',
  'k8s/reporter/build',
  'wasm-host/test/fixtures/build',
]);

function copyCheckout(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mesha-readme-walk-'));
  cpSync(REPO_ROOT, dir, {
    recursive: true,
    filter: (source) => {
      const rel = relative(REPO_ROOT, source);
      const parts = rel.split('/');
      return !(
        NOT_COPIED.has(rel) ||
        parts.includes('node_modules') ||
        parts.includes('dist') ||
        rel.endsWith('.tgz')
      );
    },
  });
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}

describe('the README walk', () => {
  let walk: Walk;

  beforeAll(() => {
    const dir = copyCheckout();
    const store = join(dir, '.walk-store');
    mkdirSync(store);
    walk = {
      dir,
      store,
      env: {
        ...process.env,
        MESHA_STORE: store,
        npm_config_update_notifier: 'false',
        FORCE_COLOR: '0',
      },
    };
  });

  afterAll(async () => {
    await Promise.all([...children].map((c) => stopGroup(c)));
    await walk?.registry?.stop();
    if (walk) rmSync(walk.dir, { recursive: true, force: true });
  });

  it('finds the sh blocks of both READMEs', () => {
    for (const file of READMES) expect(COMMANDS.some((c) => c.file === file)).toBe(true);
  });

  it('has a runner or a skip reason for every command, and none for commands that are gone', () => {
    const unlisted = COMMANDS.filter((c) => !(c.key in RUNNERS) && !(c.key in SKIPPED)).map(
      (c) => `${c.file}:${c.line}: ${c.key}`,
    );
    expect(unlisted).toEqual([]);
    const keys = new Set(COMMANDS.map((c) => c.key));
    const stale = [...Object.keys(RUNNERS), ...Object.keys(SKIPPED)].filter((k) => !keys.has(k));
    expect(stale).toEqual([]);
    for (const key of Object.keys(RUNNERS)) expect(SKIPPED[key]).toBeUndefined();
  });

  it("is what CI runs: .ci/run ends with the README's test command", () => {
    const ci = readFileSync(join(REPO_ROOT, '.ci/run'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    const testCommand = COMMANDS.find(
      (c) => c.file === 'README.md' && /^npm (run )?test\b/.test(c.key),
    );
    expect(testCommand?.key).toBe('npm test');
    expect(ci[ci.length - 1]).toBe(testCommand?.key);
  });

  const seen = new Set<string>();
  for (const cmd of COMMANDS) {
    const name = `${cmd.file}:${cmd.line}: ${cmd.key}`;
    const runner = RUNNERS[cmd.key];
    if (runner && !seen.has(cmd.key)) {
      seen.add(cmd.key);
      it(`runs ${name}`, () => runner(walk, cmd), 300_000);
    } else if (SKIPPED[cmd.key]) {
      it.skip(`${name} (skipped: ${SKIPPED[cmd.key]})`, () => undefined);
    }
  }
});
