import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { ProxyWasmHost } from '../wasm-host/src';
import { stopAllProcesses } from './support/child-process';
import { REPO_ROOT, startMesha, type MeshaProcess } from './support/mesha';
import { scrape, sumSamples } from './support/prometheus-text';
import { waitFor } from './support/wait-for';

const run = promisify(execFile);

interface RemoteCode {
  uri: string;
  cluster: string;
  sha256: string;
  configuration: string;
  vmId: string;
}

/** What the rendered istio12 EnvoyFilter tells istio-agent and Envoy to load. */
async function seedRemoteCode(): Promise<RemoteCode> {
  const { stdout } = await run('kubectl', [
    'kustomize',
    resolve(REPO_ROOT, 'k8s/overlays/istio12'),
  ]);
  const filter = parseAllDocuments(stdout)
    .map((d) => d.toJS() as { kind: string; metadata: { name: string }; spec: unknown })
    .find((o) => o.kind === 'EnvoyFilter' && o.metadata.name === 'mesha-reporter-config');
  type Wasm = {
    vm_config: {
      vm_id: string;
      code: { remote: { http_uri: { uri: string; cluster: string }; sha256: string } };
    };
    configuration: { value: string };
  };
  const wasm = (
    filter?.spec as {
      configPatches: Array<{ patch: { value: { typed_config: { config: Wasm } } } }>;
    }
  ).configPatches[0].patch.value.typed_config.config;
  const remote = wasm.vm_config.code.remote;
  return {
    uri: remote.http_uri.uri,
    cluster: remote.http_uri.cluster,
    sha256: remote.sha256,
    configuration: wasm.configuration.value,
    vmId: wasm.vm_config.vm_id,
  };
}

// The seed's steps 4-6 without a cluster: mesha serves filter.wasm, the "agent" downloads the EnvoyFilter's uri
// and checks its sha256, the proxy-wasm host runs it with the EnvoyFilter's configuration, and mesha receives
// the heartbeats on the cluster the Service gives the sidecars.
describe('the istio12 overlay end to end, Kubernetes and Envoy played by mesha and the proxy-wasm host', () => {
  let mesha: MeshaProcess;
  let host: ProxyWasmHost | undefined;

  beforeAll(async () => {
    mesha = await startMesha();
  });
  afterAll(async () => {
    await host?.close();
    await mesha?.stop();
    await stopAllProcesses();
  });

  it('downloads the code from mesha, verifies the sha256, loads it, and mesha counts its reports', async () => {
    const code = await seedRemoteCode();
    expect(code.uri).toBe('http://mesha.istio12.svc.cluster.local:7171/filter.wasm');
    // Cluster DNS resolved to the local mesha.
    const local = new URL(new URL(code.uri).pathname, mesha.url);
    const res = await fetch(local);
    expect(res.status).toBe(200);
    const wasm = Buffer.from(await res.arrayBuffer());
    expect(createHash('sha256').update(wasm).digest('hex')).toBe(code.sha256);
    expect(res.headers.get('etag')).toBe(`"${code.sha256}"`);

    host = await ProxyWasmHost.start({
      wasm,
      vmId: code.vmId,
      pluginConfig: code.configuration,
      concurrency: 2,
      clusters: { [code.cluster]: mesha.url },
      nodeMetadata: { NAMESPACE: 'istio12', NAME: 'some-pod' },
    });
    const before = sumSamples(await scrape(mesha.url), 'mesha_reports_total');
    await host.tick();
    await host.settle();
    expect(host.httpCalls.map((c) => [c.cluster, c.status, c.response?.status])).toEqual([
      [code.cluster, 0, 200],
      [code.cluster, 0, 200],
    ]);
    await waitFor('mesha to count both reports', async () => {
      const after = sumSamples(await scrape(mesha.url), 'mesha_reports_total');
      return after - before === 2;
    });
    await waitFor('mesha to log the reports', () =>
      mesha.jsonLogs().filter((l) => l.event === 'report').length >= 2 ? true : undefined,
    );
  });
});
