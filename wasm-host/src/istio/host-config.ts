import { cleanTree, isTreeMap, type TreeMap } from './property-tree';
import type { IstioHostConfig } from './stream-properties';
import type { HostOptions } from '../types';

const asMap = (value: unknown): TreeMap | undefined => {
  const tree = cleanTree(value);
  return isTreeMap(tree) ? tree : undefined;
};

/** HostOptions' Istio fields with the node metadata merged: the structured value, then the flat
 * `nodeMetadata` strings over it. Copies into null-prototype maps (user keys cannot pollute). */
export function istioHostConfig(options: HostOptions): IstioHostConfig {
  const nodeTree = asMap(options.nodeMetadataStruct) ?? (Object.create(null) as TreeMap);
  for (const [k, v] of Object.entries(options.nodeMetadata ?? {})) nodeTree[k] = v;
  return {
    listenerDirection: options.listenerDirection,
    nodeTree,
    clusterName: options.clusterName,
    clusterMetadata: asMap(options.clusterMetadata),
    upstreamHostMetadata: asMap(options.upstreamHostMetadata),
  };
}
