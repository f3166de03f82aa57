import {
  fromBinary,
  fromJson,
  toBinary,
  toJson as structToJson,
  type JsonValue,
} from '@bufbuild/protobuf';
import { StructSchema } from '@bufbuild/protobuf/wkt';
import { cleanTree, isTreeMap, type TreeMap, type TreeValue } from './property-tree';

/**
 * Istio's peer metadata, as istio/proxy's WorkloadMetadataObject holds it
 * (extensions/common/metadata_object.{h,cc}, Istio 1.24+): the fields a plugin reads through
 * `filter_state.downstream_peer.<field>` / `upstream_peer.<field>`.
 */
export interface WorkloadMetadata {
  name: string;
  namespace: string;
  workload: string;
  cluster: string;
  service: string;
  revision: string;
  app: string;
  version: string;
  identity: string;
  /** deployment, cronjob, job, pod, or '' when OWNER does not say. */
  type: string;
}

const str = (m: TreeMap, key: string): string => {
  const v = Object.prototype.hasOwnProperty.call(m, key) ? m[key] : undefined;
  return typeof v === 'string' ? v : '';
};

const WORKLOAD_TYPES = new Set(['deployment', 'cronjob', 'job', 'pod']);

/** OWNER `kubernetes://apis/apps/v1/namespaces/<ns>/deployments/<workload>` -> `deployment`. */
function ownerType(owner: string, workload: string): string {
  if (owner.length <= workload.length + 2) return '';
  const head = owner.slice(0, owner.length - workload.length - 2);
  const suffix = head.slice(head.lastIndexOf('/') + 1);
  return WORKLOAD_TYPES.has(suffix) ? suffix : '';
}

/** Node metadata (NAME, NAMESPACE, WORKLOAD_NAME, CLUSTER_ID, LABELS, OWNER, ...) -> the peer
 * object, as istio/proxy's convertStructToWorkloadMetadata reads it (app.kubernetes.io/name wins
 * over app, app.kubernetes.io/version over version). */
export function workloadFromNodeMetadata(meta: TreeMap): WorkloadMetadata {
  const labels = isTreeMap(meta.LABELS) ? meta.LABELS : (Object.create(null) as TreeMap);
  const workload = str(meta, 'WORKLOAD_NAME');
  return {
    name: str(meta, 'NAME'),
    namespace: str(meta, 'NAMESPACE'),
    workload,
    cluster: str(meta, 'CLUSTER_ID'),
    service: str(labels, 'service.istio.io/canonical-name'),
    revision: str(labels, 'service.istio.io/canonical-revision'),
    app: str(labels, 'app.kubernetes.io/name') || str(labels, 'app'),
    version: str(labels, 'app.kubernetes.io/version') || str(labels, 'version'),
    identity: str(meta, 'IDENTITY'),
    type: ownerType(str(meta, 'OWNER'), workload),
  };
}

/** The peer object as the filter-state Struct (serializeAsProto): only non-empty fields. */
export function workloadToFilterState(w: WorkloadMetadata): TreeMap {
  const out = Object.create(null) as TreeMap;
  for (const key of [
    'type',
    'workload',
    'name',
    'cluster',
    'namespace',
    'service',
    'revision',
    'app',
    'version',
    'identity',
  ] as const) {
    if (w[key] !== '') out[key] = w[key];
  }
  return out;
}

/** The subset of node metadata Istio's metadata exchange sends (convertWorkloadMetadataToStruct). */
export function workloadToNodeMetadata(w: WorkloadMetadata): TreeMap {
  const out = Object.create(null) as TreeMap;
  if (w.name) out.NAME = w.name;
  if (w.namespace) out.NAMESPACE = w.namespace;
  if (w.workload) out.WORKLOAD_NAME = w.workload;
  if (w.cluster) out.CLUSTER_ID = w.cluster;
  if (w.identity) out.IDENTITY = w.identity;
  const labels = Object.create(null) as TreeMap;
  if (w.service) labels['service.istio.io/canonical-name'] = w.service;
  if (w.revision) labels['service.istio.io/canonical-revision'] = w.revision;
  if (w.app) labels.app = w.app;
  if (w.version) labels.version = w.version;
  out.LABELS = labels;
  if (w.type) {
    out.OWNER = `kubernetes://apis/apps/v1/namespaces/${w.namespace}/${w.type}s/${w.workload}`;
  }
  return out;
}

/** A tree as JSON for protobuf's Struct (bigints as numbers, lists and maps kept). */
function toJson(value: TreeValue): JsonValue {
  if (typeof value === 'bigint') return Number(value);
  if (Array.isArray(value)) return value.map(toJson);
  if (isTreeMap(value)) {
    const out: { [key: string]: JsonValue } = {};
    // Sorted keys: Istio serializes the Struct deterministically (map entries in key order).
    for (const key of Object.keys(value).sort()) out[key] = toJson(value[key]);
    return out;
  }
  return value;
}

/** google.protobuf.Struct, binary, keys sorted (Istio serializes it deterministically). */
export function structToBinary(map: TreeMap): Uint8Array {
  return toBinary(StructSchema, fromJson(StructSchema, toJson(map)));
}

/** google.protobuf.Struct from binary; undefined when the bytes are not one. */
export function structFromBinary(bytes: Uint8Array): TreeMap | undefined {
  try {
    const tree = cleanTree(structToJson(StructSchema, fromBinary(StructSchema, bytes)));
    return isTreeMap(tree) ? tree : undefined;
  } catch {
    return undefined;
  }
}
