import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { parseConfig } from '../src/config/config.schema';
import { REPO_ROOT } from './support/mesha';

const run = promisify(execFile);

interface Rendered {
  kind: string;
  metadata: { name: string };
  data?: Record<string, string>;
  spec?: {
    template: {
      spec: {
        containers: Array<{
          name: string;
          env?: Array<{ name: string; valueFrom?: Record<string, Record<string, unknown>> }>;
        }>;
      };
    };
  };
}

/** The remote-write component on top of the generic overlay, as a user's overlay would add it. */
describe('k8s/components/remote-write', () => {
  let objects: Rendered[];
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mesha-k8s-rw-'));
    const from = (path: string) => relative(dir, resolve(REPO_ROOT, path));
    writeFileSync(
      join(dir, 'kustomization.yaml'),
      [
        'apiVersion: kustomize.config.k8s.io/v1beta1',
        'kind: Kustomization',
        'resources:',
        `  - ${from('k8s/overlays/generic')}`,
        'components:',
        `  - ${from('k8s/components/remote-write')}`,
        '',
      ].join('\n'),
    );
    const { stdout } = await run(
      'kubectl',
      ['kustomize', dir, '--load-restrictor', 'LoadRestrictionsNone'],
      {
        maxBuffer: 16 * 1024 * 1024,
      },
    );
    objects = parseAllDocuments(stdout).map((doc) => doc.toJS() as Rendered);
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('turns remote write on with settings mesha accepts, each replica labelled with its pod name', () => {
    const configMap = objects.find(
      (o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('mesha-config'),
    );
    const deployment = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'mesha');
    const container = deployment?.spec?.template.spec.containers.find((c) => c.name === 'mesha');
    // The Deployment refers to the merged ConfigMap (kustomize renamed both with the new hash).
    expect(JSON.stringify(deployment)).toContain(configMap?.metadata.name);

    const config = parseConfig({ ...configMap?.data, REMOTE_WRITE_REPLICA: 'mesha-7d9f-abcde' });
    expect(config.REMOTE_WRITE_URL).toMatch(/^http/);
    expect(config.REMOTE_WRITE_REPLICA_LABEL).toBe('instance');
    // The final flush fits the shutdown grace after the readiness delay.
    expect(config.SHUTDOWN_GRACE_MS - config.SHUTDOWN_DELAY_MS).toBeGreaterThan(
      config.REMOTE_WRITE_FLUSH_MARGIN_MS + 5_000,
    );
    // The component adds these two to the base container's env (which has its own entries).
    expect(container?.env).toEqual(
      expect.arrayContaining([
        { name: 'REMOTE_WRITE_REPLICA', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
        {
          name: 'REMOTE_WRITE_BEARER_TOKEN',
          valueFrom: {
            secretKeyRef: { name: 'mesha-remote-write', key: 'bearer-token', optional: true },
          },
        },
      ]),
    );
  });
});
