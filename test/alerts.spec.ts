import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { parse, stringify } from 'yaml';
import { REPO_ROOT } from './support/mesha';

const run = promisify(execFile);
const RULES_FILE = resolve(REPO_ROOT, 'k8s/monitoring/alerts/mesha.rules.yaml');
const TESTS_FILE = resolve(REPO_ROOT, 'k8s/monitoring/alerts/mesha.rules.test.yaml');
const PROMETHEUS_RULE = resolve(REPO_ROOT, 'k8s/monitoring/prometheusrule.yaml');

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleTests {
  tests: Array<{
    name: string;
    alert_rule_test: Array<{ alertname: string; exp_alerts: unknown[] }>;
  }>;
}

const rules = (parse(readFileSync(RULES_FILE, 'utf8')) as { groups: Array<{ rules: Rule[] }> })
  .groups;
const alerts = rules.flatMap((group) => group.rules);

/** Runs promtool; resolves with its exit code and output whatever the code. */
async function promtool(args: string[], cwd: string): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run('promtool', args, { cwd });
    return { code: 0, output: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, output: `${e.stdout}${e.stderr}` };
  }
}

/** GitHub's anchor for a Markdown heading. */
const anchorOf = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');

describe('alert rules (k8s/monitoring/alerts, Debian promtool)', () => {
  it('pass promtool check rules', async () => {
    const { code, output } = await promtool(['check', 'rules', RULES_FILE], REPO_ROOT);
    expect(output).toContain(`SUCCESS: ${alerts.length} rules found`);
    expect(code).toBe(0);
  });

  it('pass their promtool unit tests', async () => {
    const { code, output } = await promtool(['test', 'rules', TESTS_FILE], REPO_ROOT);
    expect(output).toContain('SUCCESS');
    expect(code).toBe(0);
  });

  it('cover the issue: down, not ready, silent reporter, overflow, rejections, duplicates, slow /metrics, memory', () => {
    expect(alerts.map((a) => a.alert)).toEqual(
      expect.arrayContaining([
        'MeshaDown',
        'MeshaNotReady',
        'MeshaReporterSilent',
        'MeshaSeriesOverflow',
        'MeshaHighRejectionRatio',
        'MeshaDuplicateSpike',
        'MeshaSlowMetrics',
        'MeshaMemoryNearLimit',
      ]),
    );
  });

  it('have a firing and a quiet case each in the unit tests', () => {
    const cases = (parse(readFileSync(TESTS_FILE, 'utf8')) as RuleTests).tests.flatMap(
      (t) => t.alert_rule_test,
    );
    for (const { alert } of alerts) {
      const mine = cases.filter((c) => c.alertname === alert);
      expect({ alert, firing: mine.some((c) => c.exp_alerts.length > 0) }).toEqual({
        alert,
        firing: true,
      });
      expect({ alert, quiet: mine.some((c) => c.exp_alerts.length === 0) }).toEqual({
        alert,
        quiet: true,
      });
    }
  });

  it('each carry a severity, summary, description and a runbook section that exists in the README', () => {
    const readme = readFileSync(resolve(REPO_ROOT, 'README.md'), 'utf8');
    const anchors = new Set(
      [...readme.matchAll(/^#{2,4} (.+)$/gm)].map((m) => `README.md#${anchorOf(m[1])}`),
    );
    for (const alert of alerts) {
      expect({ alert: alert.alert, severity: alert.labels?.severity }).toEqual({
        alert: alert.alert,
        severity: expect.stringMatching(/^(critical|warning|info)$/),
      });
      expect(Object.keys(alert.annotations ?? {}).sort()).toEqual([
        'description',
        'runbook_url',
        'summary',
      ]);
      expect(anchors).toContain(alert.annotations?.runbook_url);
    }
  });

  // The unit tests must be able to fail: an alert that never fires, or always fires, breaks them.
  it('have unit tests that catch an alert that never fires or always fires', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mesha-alerts-'));
    try {
      copyFileSync(TESTS_FILE, join(dir, 'mesha.rules.test.yaml'));
      for (const alert of alerts) {
        for (const mutant of ['vector(1) > 2', 'vector(1)']) {
          const groups = structuredClone(rules);
          for (const rule of groups.flatMap((g) => g.rules)) {
            if (rule.alert === alert.alert) rule.expr = mutant;
          }
          writeFileSync(join(dir, 'mesha.rules.yaml'), stringify({ groups }));
          const { code, output } = await promtool(['test', 'rules', 'mesha.rules.test.yaml'], dir);
          expect({ alert: alert.alert, mutant, code }).toEqual({
            alert: alert.alert,
            mutant,
            code: 1,
          });
          expect(output).toContain(`alertname: ${alert.alert}`);
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('are the very groups of the PrometheusRule in the manifests (npm run k8s:render:monitoring)', async () => {
    // The generator formats with Prettier, which Jest's CommonJS runtime cannot load: run it as npm would.
    const check = await run(
      process.execPath,
      ['--import', 'tsx', 'scripts/render-monitoring.ts', '--check'],
      { cwd: REPO_ROOT },
    );
    expect(check.stdout).toContain('is up to date');
    const rule = parse(readFileSync(PROMETHEUS_RULE, 'utf8')) as { spec: { groups: unknown } };
    expect(rule.spec.groups).toEqual(rules);
  });
});
