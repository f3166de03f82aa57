import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse } from 'yaml';
import { REPO_ROOT } from './mesha';

/** The memory settings k8s/base/deployment.yaml gives the mesha container. */
export interface ManifestLimits {
  limitBytes: number;
  requestBytes: number;
  /** NODE_OPTIONS --max-old-space-size, in MiB. */
  heapMiB: number;
  env: Record<string, { value?: string; valueFrom?: unknown }>;
}

const UNITS: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30 };

/** A Kubernetes memory quantity (`256Mi`, `1Gi`, `134217728`) in bytes. */
export function quantityBytes(quantity: string): number {
  const match = /^([0-9]+)(Ki|Mi|Gi)?$/.exec(quantity);
  if (!match) throw new Error(`unsupported quantity ${quantity}`);
  return Number(match[1]) * (match[2] ? UNITS[match[2]] : 1);
}

interface Container {
  name: string;
  env?: Array<{ name: string; value?: string; valueFrom?: unknown }>;
  resources: { limits: { memory: string }; requests: { memory: string } };
}

export function manifestLimits(): ManifestLimits {
  const deployment = parse(
    readFileSync(resolve(REPO_ROOT, 'k8s/base/deployment.yaml'), 'utf8'),
  ) as {
    spec: { template: { spec: { containers: Container[] } } };
  };
  const container = deployment.spec.template.spec.containers.find((c) => c.name === 'mesha');
  if (!container) throw new Error('no mesha container in k8s/base/deployment.yaml');
  const env = Object.fromEntries((container.env ?? []).map((e) => [e.name, e]));
  const heap = /--max-old-space-size=([0-9]+)/.exec(env.NODE_OPTIONS?.value ?? '');
  if (!heap) throw new Error('NODE_OPTIONS has no --max-old-space-size');
  return {
    limitBytes: quantityBytes(container.resources.limits.memory),
    requestBytes: quantityBytes(container.resources.requests.memory),
    heapMiB: Number(heap[1]),
    env,
  };
}
