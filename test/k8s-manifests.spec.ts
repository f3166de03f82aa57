import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { PluginLoadError, ProxyWasmHost } from '../wasm-host/src';
import {
  BUILD_MANIFEST,
  FILTER_WASM,
  buildManifestText,
  readReporterBuild,
} from '../scripts/render-k8s';
import { REPO_ROOT } from './support/mesha';

const run = promisify(execFile);
const OVERLAYS = ['istio12', 'generic', 'external-collector'] as const;
type Overlay = (typeof OVERLAYS)[number];

/** A rendered Kubernetes object; fields are read with the helpers below. */
type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
} & Record<string, unknown>;

interface Validation {
  kind: string;
  name: string;
  model?: string;
  error?: string;
}

async function render(overlay: Overlay): Promise<K8sObject[]> {
  const { stdout } = await run(
    'kubectl',
    ['kustomize', resolve(REPO_ROOT, 'k8s/overlays', overlay)],
    {
      maxBuffer: 16 * 1024 * 1024,
    },
  );
  return parseAllDocuments(stdout).map((doc) => {
    if (doc.errors.length > 0) throw new Error(`${overlay}: ${doc.errors[0].message}`);
    return doc.toJS() as K8sObject;
  });
}

/** Runs test/k8s-validate.mjs (the model packages are ESM-only) over the objects. */
function validate(objects: unknown[]): Promise<Validation[]> {
  return new Promise((resolvePromise, reject) => {
    const child = execFile(
      process.execPath,
      [resolve(__dirname, 'k8s-validate.mjs')],
      { cwd: REPO_ROOT, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`${err.message}\n${stderr}`));
        else resolvePromise(JSON.parse(stdout) as Validation[]);
      },
    );
    child.stdin?.end(JSON.stringify(objects));
  });
}

/** Reads a nested field; throws naming the path when it is not there. */
function at(value: unknown, path: string): unknown {
  let current = value;
  for (const key of path.split('.')) {
    if (current === null || typeof current !== 'object' || !(key in current)) {
      throw new Error(`missing ${path} (stopped at ${key})`);
    }
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

function one(objects: K8sObject[], kind: string, name?: string): K8sObject {
  const found = objects.filter(
    (o) => o.kind === kind && (name === undefined || o.metadata.name === name),
  );
  if (found.length !== 1)
    throw new Error(`expected one ${kind} ${name ?? ''}, found ${found.length}`);
  return found[0];
}

/** The Envoy cluster Istio builds for a Service port: what the reporter dispatches its reports to. */
function serviceCluster(objects: K8sObject[]): { cluster: string; host: string; port: number } {
  const service = one(objects, 'Service', 'mesha');
  const port = (at(service, 'spec.ports') as Array<{ port: number }>)[0].port;
  const host = `mesha.${service.metadata.namespace}.svc.cluster.local`;
  return { cluster: `outbound|${port}||${host}`, host, port };
}

/** The plugin configuration each overlay hands its reporter, as the JSON string Envoy gives the plugin. */
function pluginConfigOf(objects: K8sObject[]): { from: string; json: string } {
  const plugin = objects.find((o) => o.kind === 'WasmPlugin');
  if (plugin) return { from: 'WasmPlugin', json: JSON.stringify(at(plugin, 'spec.pluginConfig')) };
  const config = one(objects, 'EnvoyFilter', 'mesha-reporter-config');
  const wasm = at(config, 'spec.configPatches.0.patch.value.typed_config.config');
  return { from: 'EnvoyFilter', json: at(wasm, 'configuration.value') as string };
}

function brokenCopies(rendered: Record<Overlay, K8sObject[]>): K8sObject[] {
  const plugin = structuredClone(one(rendered.generic, 'WasmPlugin'));
  (plugin.spec as Record<string, unknown>).phase = 'SOMETIMES';
  const deployment = structuredClone(one(rendered.generic, 'Deployment'));
  (deployment.spec as Record<string, unknown>).replicas = 'two';
  const entry = structuredClone(one(rendered['external-collector'], 'ServiceEntry'));
  (entry.spec as Record<string, unknown>).location = 'ON_THE_MOON';
  const rule = structuredClone(one(rendered.generic, 'PrometheusRule'));
  (rule.spec as { groups: Array<Record<string, unknown>> }).groups[0].rules = 'none';
  return [plugin, deployment, entry, rule];
}

describe('k8s manifests (kubectl kustomize k8s/overlays/*)', () => {
  const rendered = {} as Record<Overlay, K8sObject[]>;
  let validations: Validation[];
  let brokenValidations: Validation[];
  let built: { sha256: string; size: number };

  beforeAll(async () => {
    const all = await Promise.all(OVERLAYS.map(render));
    OVERLAYS.forEach((overlay, i) => (rendered[overlay] = all[i]));
    // Broken copies ride along in the same validator run: proof that the check can fail.
    const results = await validate([...all.flat(), ...brokenCopies(rendered)]);
    validations = results.slice(0, all.flat().length);
    brokenValidations = results.slice(all.flat().length);
    built = readReporterBuild();
  });

  it('renders objects that all validate against the kubernetes-models schemas', () => {
    const failures = validations.filter((v) => v.error !== undefined);
    expect(failures).toEqual([]);
    const kinds = new Set(validations.map((v) => v.model));
    for (const kind of [
      'Namespace',
      'ConfigMap',
      'Service',
      'Deployment',
      'PodDisruptionBudget',
      'ServiceMonitor',
      'PrometheusRule',
    ]) {
      expect(kinds).toContain(kind);
    }
    for (const kind of ['DestinationRule', 'WasmPlugin', 'EnvoyFilter', 'ServiceEntry'])
      expect(kinds).toContain(kind);
  });

  it('has a validator that does reject broken objects', () => {
    expect(brokenValidations.map((r) => r.error)).toEqual([
      expect.stringMatching(/phase/),
      expect.stringMatching(/replicas/),
      expect.stringMatching(/location/),
      expect.stringMatching(/rules/),
    ]);
  });

  it('carries the sha256 of the filter.wasm built from this commit (run npm run k8s:render when it fails)', () => {
    expect(readFileSync(BUILD_MANIFEST, 'utf8')).toBe(buildManifestText(built));
    const sha = /^[a-f0-9]{64}$/;
    expect(built.sha256).toMatch(sha);
    for (const overlay of OVERLAYS) {
      const plugin = rendered[overlay].find((o) => o.kind === 'WasmPlugin');
      const filter = rendered[overlay].find((o) => o.metadata.name === 'mesha-reporter-config');
      const shas = [
        plugin && at(plugin, 'spec.sha256'),
        filter &&
          at(
            filter,
            'spec.configPatches.0.patch.value.typed_config.config.vm_config.code.remote.sha256',
          ),
      ].filter((s) => s !== undefined);
      expect(shas).toEqual([built.sha256]);
      // The build record itself is local-config: kustomize must not emit it.
      expect(
        rendered[overlay].find((o) => o.metadata.name === 'mesha-reporter-build'),
      ).toBeUndefined();
    }
  });

  describe.each(OVERLAYS)('%s: mesha', (overlay) => {
    it('runs 2 hardened, injected replicas whose grace period covers the SIGTERM drain', () => {
      const objects = rendered[overlay];
      const deployment = one(objects, 'Deployment', 'mesha');
      expect(at(deployment, 'spec.replicas')).toBe(2);
      expect(at(deployment, 'spec.template.metadata.labels')).toMatchObject({
        'sidecar.istio.io/inject': 'true',
      });
      expect(at(deployment, 'spec.template.metadata.annotations')).toMatchObject({
        'prometheus.io/scrape': 'true',
        'prometheus.io/port': '7171',
        'prometheus.io/path': '/metrics',
      });
      const pod = at(deployment, 'spec.template.spec') as Record<string, unknown>;
      expect(at(pod, 'securityContext.runAsNonRoot')).toBe(true);
      expect(at(pod, 'securityContext.runAsUser')).toBeGreaterThan(0);
      const [container] = pod.containers as Array<Record<string, unknown>>;
      expect(at(container, 'readinessProbe.httpGet.path')).toBe('/readyz');
      expect(at(container, 'livenessProbe.httpGet.path')).toBe('/healthz');
      expect(at(container, 'resources.requests')).toEqual({
        cpu: expect.any(String),
        memory: expect.any(String),
      });
      expect(at(container, 'resources.limits.memory')).toEqual(expect.any(String));
      expect(at(container, 'securityContext')).toMatchObject({
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
        capabilities: { drop: ['ALL'] },
      });
      const configMapName = at(container, 'envFrom.0.configMapRef.name') as string;
      const settings = at(one(objects, 'ConfigMap', configMapName), 'data') as Record<
        string,
        string
      >;
      expect(Number(settings.PORT)).toBe(7171);
      const graceMs = Number(settings.SHUTDOWN_GRACE_MS);
      expect(graceMs).toBeGreaterThan(Number(settings.SHUTDOWN_DELAY_MS));
      // The kubelet's SIGKILL must come after mesha's own bound, with room for the sidecar to stop too.
      expect((pod.terminationGracePeriodSeconds as number) * 1000).toBeGreaterThanOrEqual(
        graceMs + 5000,
      );
    });

    it('exposes port 7171 as HTTP to Istio, with a PDB, a ServiceMonitor and header-hash routing', () => {
      const objects = rendered[overlay];
      const service = one(objects, 'Service', 'mesha');
      const [port] = at(service, 'spec.ports') as Array<Record<string, unknown>>;
      expect(port).toMatchObject({ port: 7171, appProtocol: 'http', targetPort: 'http' });
      expect(port.name).toMatch(/^http-/);
      const podLabels = at(one(objects, 'Deployment', 'mesha'), 'spec.template.metadata.labels');
      expect(podLabels).toMatchObject(at(service, 'spec.selector') as object);
      expect(podLabels).toMatchObject(
        at(one(objects, 'PodDisruptionBudget'), 'spec.selector.matchLabels') as object,
      );
      expect(at(one(objects, 'PodDisruptionBudget'), 'spec.minAvailable')).toBe(1);
      const monitor = one(objects, 'ServiceMonitor');
      expect(service.metadata).toMatchObject({ labels: at(monitor, 'spec.selector.matchLabels') });
      expect(at(monitor, 'spec.endpoints.0')).toMatchObject({ port: port.name, path: '/metrics' });
      const rule = one(objects, 'DestinationRule', 'mesha');
      expect(at(rule, 'spec.host')).toBe('mesha');
      expect(at(rule, 'spec.trafficPolicy.loadBalancer.consistentHash.httpHeaderName')).toBe(
        'x-mesha-reporter',
      );
      for (const o of objects.filter((x) => x.kind !== 'Namespace')) {
        expect(o.metadata.namespace).toBe(overlay === 'istio12' ? 'istio12' : 'mesha');
      }
    });
  });

  it.each(OVERLAYS)(
    '%s: carries the Grafana dashboards (sidecar label) and the alert rules as a PrometheusRule',
    (overlay) => {
      const objects = rendered[overlay];
      const dashboards = one(objects, 'ConfigMap', 'mesha-dashboards');
      expect(dashboards.metadata).toMatchObject({ labels: { grafana_dashboard: '1' } });
      const data = at(dashboards, 'data') as Record<string, string>;
      expect(Object.keys(data).sort()).toEqual(['mesha.json', 'traffic.json']);
      for (const [file, text] of Object.entries(data)) {
        const model = JSON.parse(text) as { uid: string; panels: unknown[] };
        expect({ file, uid: model.uid, panels: model.panels.length > 5 }).toEqual({
          file,
          uid: expect.stringMatching(/^mesha-/),
          panels: true,
        });
        expect(text).toBe(
          readFileSync(resolve(REPO_ROOT, 'k8s/monitoring/dashboards', file), 'utf8'),
        );
      }
      const rules = parseAllDocuments(
        readFileSync(resolve(REPO_ROOT, 'k8s/monitoring/alerts/mesha.rules.yaml'), 'utf8'),
      )[0].toJS() as { groups: unknown };
      expect(at(one(objects, 'PrometheusRule', 'mesha'), 'spec.groups')).toEqual(rules.groups);
    },
  );

  it('istio12: loads the reporter with the seed EnvoyFilter pair, its code from mesha over HTTP', () => {
    const objects = rendered.istio12;
    const { cluster, host, port } = serviceCluster(objects);
    expect(cluster).toBe('outbound|7171||mesha.istio12.svc.cluster.local');
    const filter = at(
      one(objects, 'EnvoyFilter', 'mesha-reporter'),
      'spec.configPatches.0',
    ) as object;
    expect(filter).toMatchObject({ applyTo: 'HTTP_FILTER', patch: { operation: 'INSERT_BEFORE' } });
    const discovery = at(filter, 'patch.value.config_discovery');
    expect(discovery).toEqual({
      config_source: { ads: {}, initial_fetch_timeout: '0s' },
      type_urls: ['type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm'],
    });
    const extension = at(
      one(objects, 'EnvoyFilter', 'mesha-reporter-config'),
      'spec.configPatches.0',
    ) as object;
    expect(extension).toMatchObject({ applyTo: 'EXTENSION_CONFIG', patch: { operation: 'ADD' } });
    expect(at(extension, 'patch.value.name')).toBe(at(filter, 'patch.value.name'));
    expect(at(extension, 'patch.value.typed_config.@type')).toBe(
      'type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm',
    );
    const vm = at(extension, 'patch.value.typed_config.config.vm_config');
    expect(at(vm, 'vm_id')).toEqual(expect.stringMatching(/\S/));
    expect(at(vm, 'runtime')).toBe('envoy.wasm.runtime.v8');
    expect(at(vm, 'code.remote.http_uri')).toEqual({
      uri: `http://${host}:${port}/filter.wasm`,
      cluster,
      timeout: expect.stringMatching(/^\d+s$/),
    });
    expect(at(vm, 'code.remote.sha256')).toBe(built.sha256);
    const configuration = at(extension, 'patch.value.typed_config.config.configuration');
    expect(at(configuration, '@type')).toBe('type.googleapis.com/google.protobuf.StringValue');
    expect(JSON.parse(at(configuration, 'value') as string)).toEqual({});
  });

  it('generic: loads the reporter as a WasmPlugin in traffic mode, reporting to mesha', () => {
    const objects = rendered.generic;
    const { cluster, host, port } = serviceCluster(objects);
    const spec = at(one(objects, 'WasmPlugin', 'mesha-reporter'), 'spec') as Record<
      string,
      unknown
    >;
    expect(spec).toMatchObject({
      url: `http://${host}:${port}/filter.wasm`,
      sha256: built.sha256,
      phase: 'STATS',
      failStrategy: 'FAIL_OPEN',
      match: [{ mode: 'SERVER' }],
      selector: { matchLabels: expect.any(Object) },
    });
    expect(spec.pluginConfig).toMatchObject({
      mode: 'traffic',
      cluster,
      authority: host,
      hash_authority: true,
    });
  });

  it('external-collector: a TLS ServiceEntry + DestinationRule, and the reporter sends to its 443 cluster', () => {
    const objects = rendered['external-collector'];
    const entry = at(one(objects, 'ServiceEntry'), 'spec') as Record<string, unknown>;
    expect(entry).toMatchObject({
      location: 'MESH_EXTERNAL',
      resolution: 'DNS',
      ports: [{ number: 443, protocol: 'TLS', name: expect.any(String) }],
    });
    const [host] = entry.hosts as string[];
    const rule = one(objects, 'DestinationRule', 'mesha-external-collector');
    expect(at(rule, 'spec')).toMatchObject({ host, trafficPolicy: { tls: { mode: 'SIMPLE' } } });
    expect(at(one(objects, 'WasmPlugin'), 'spec.pluginConfig')).toMatchObject({
      cluster: `outbound|443||${host}`,
      authority: host,
      hash_authority: false,
    });
  });

  describe('the rendered plugin configuration, in the proxy-wasm host with the built reporter', () => {
    let server: Server;
    let collector: string;
    const received: Array<{ path?: string; headers: IncomingMessage['headers'] }> = [];
    const hosts: ProxyWasmHost[] = [];

    beforeAll(async () => {
      server = createServer((req, res) => {
        received.push({ path: req.url, headers: req.headers });
        req.resume();
        req.on('end', () => res.writeHead(200, { 'content-type': 'text/plain' }).end('ok'));
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const address = server.address();
      if (address === null || typeof address === 'string') throw new Error('no port');
      collector = `http://127.0.0.1:${address.port}`;
    });
    afterAll(async () => {
      await Promise.all(hosts.map((h) => h.close()));
      await new Promise<void>((r) => server.close(() => r()));
    });

    it.each(OVERLAYS)(
      '%s: on_configure accepts it and the reports go to the cluster it names',
      async (overlay) => {
        const objects = rendered[overlay];
        const { from, json } = pluginConfigOf(objects);
        const config = JSON.parse(json) as {
          cluster?: string;
          mode?: string;
          authority?: string;
          hash_authority?: boolean;
        };
        // An empty config means the reporter's defaults: the seed's cluster in istio12.
        const cluster = config.cluster ?? serviceCluster(objects).cluster;
        const host = await ProxyWasmHost.start({
          wasm: readFileSync(FILTER_WASM),
          pluginConfig: json,
          concurrency: 1,
          clusters: { [cluster]: collector },
        });
        hosts.push(host);
        expect(from).toBe(overlay === 'istio12' ? 'EnvoyFilter' : 'WasmPlugin');
        expect(host.tickPeriodMs(0)).toBeGreaterThan(0);
        if (config.mode === 'traffic') {
          await host.runStream(
            { method: 'GET', path: '/orders/1', authority: 'shop' },
            { status: 200, body: 'x' },
          );
        }
        const before = received.length;
        await host.tick(0);
        await host.settle();
        const dispatched = host.httpCalls.filter((c) => c.cluster === cluster && c.status === 0);
        expect(dispatched.length).toBeGreaterThan(0);
        expect(dispatched[0].response?.status).toBe(200);
        expect(received.length).toBeGreaterThan(before);
        expect(received[received.length - 1].path).toBe('/wasmCallback');
        if (config.mode === 'traffic') {
          const { headers } = received[received.length - 1];
          const reporter = String(headers['x-mesha-reporter']);
          expect(headers.host).toBe(
            config.hash_authority === true
              ? `${reporter}.${String(config.authority)}`
              : config.authority,
          );
        }
      },
    );

    it('and a broken configuration is refused by on_configure (the check can fail)', async () => {
      const json = JSON.stringify({
        ...(at(one(rendered.generic, 'WasmPlugin'), 'spec.pluginConfig') as object),
        mode: 'sometimes',
      });
      await expect(
        ProxyWasmHost.start({
          wasm: readFileSync(FILTER_WASM),
          pluginConfig: json,
          concurrency: 1,
        }),
      ).rejects.toThrow(PluginLoadError);
    });
  });
});
