import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { parseConfig } from '../src/config/config.schema';
import { REPO_ROOT } from './support/mesha';

const run = promisify(execFile);
const GENERIC = resolve(REPO_ROOT, 'k8s/overlays/generic');

type Obj = { kind: string; metadata: { name: string; namespace?: string } } & Record<
  string,
  unknown
>;
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- rendered manifests, compared as data
type Loose = any;

async function render(dir: string): Promise<Obj[]> {
  const { stdout } = await run(
    'kubectl',
    ['kustomize', dir, '--load-restrictor', 'LoadRestrictionsNone'],
    {
      maxBuffer: 16 * 1024 * 1024,
    },
  );
  return parseAllDocuments(stdout).map((doc) => doc.toJS() as Obj);
}

function validate(objects: unknown[]): Promise<Array<{ kind: string; error?: string }>> {
  return new Promise((resolvePromise, reject) => {
    const child = execFile(
      process.execPath,
      [resolve(__dirname, 'k8s-validate.mjs')],
      { cwd: REPO_ROOT, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`${err.message}\n${stderr}`));
        else resolvePromise(JSON.parse(stdout) as Array<{ kind: string; error?: string }>);
      },
    );
    child.stdin?.end(JSON.stringify(objects));
  });
}

/** The generic overlay with k8s/components/durable-state added, as a user's overlay would add it. */
describe('k8s/components/durable-state', () => {
  let dir: string;
  let withState: Obj[];
  let without: Obj[];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mesha-k8s-state-'));
    const overlay = parse(readFileSync(join(GENERIC, 'kustomization.yaml'), 'utf8')) as {
      resources: string[];
      components: string[];
    };
    const moved = (path: string) => relative(dir, resolve(GENERIC, path));
    overlay.resources = overlay.resources.map(moved);
    overlay.components = [
      ...overlay.components.map(moved),
      moved('../../components/durable-state'),
    ];
    writeFileSync(join(dir, 'kustomization.yaml'), stringify(overlay));
    [withState, without] = await Promise.all([render(dir), render(GENERIC)]);
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs mesha as a StatefulSet with a volume per replica and STATE_DIR on it', async () => {
    expect(withState.filter((o) => o.kind === 'Deployment')).toEqual([]);
    const set = withState.find((o) => o.kind === 'StatefulSet') as Loose;
    expect(set.metadata).toMatchObject({ name: 'mesha', namespace: 'mesha' });
    expect(set.spec.volumeClaimTemplates[0].spec.accessModes).toEqual(['ReadWriteOnce']);
    const container = set.spec.template.spec.containers[0];
    const configMap = withState.find((o) => o.kind === 'ConfigMap') as Loose;
    expect(container.envFrom[0].configMapRef.name).toBe(configMap.metadata.name);
    const state = configMap.data.STATE_DIR as string;
    expect(container.volumeMounts).toContainEqual({ name: 'data', mountPath: '/var/lib/mesha' });
    expect(state.startsWith('/var/lib/mesha/')).toBe(true);
    expect(parseConfig(configMap.data).STATE_DIR).toBe(state);
    expect((await validate(withState)).filter((v) => v.error)).toEqual([]);
  });

  it('keeps the pod template of k8s/base/deployment.yaml, apart from the state volume', () => {
    const set = structuredClone(withState.find((o) => o.kind === 'StatefulSet')) as Loose;
    const deployment = without.find((o) => o.kind === 'Deployment') as Loose;
    const pod = set.spec.template.spec;
    const container = pod.containers[0];
    container.volumeMounts = container.volumeMounts.filter(
      (m: { name: string }) => m.name !== 'data',
    );
    delete pod.securityContext.fsGroup;
    // The ConfigMap's hash differs (it holds STATE_DIR too); the rest must be the same.
    const template = structuredClone(deployment.spec.template);
    template.spec.containers[0].envFrom = container.envFrom;
    expect(set.spec.template).toEqual(template);
    expect(set.spec.replicas).toBe(deployment.spec.replicas);
    expect(set.spec.selector).toEqual(deployment.spec.selector);
  });
});
