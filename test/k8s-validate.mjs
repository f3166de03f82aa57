/* global process */
// Validates Kubernetes objects with the schemas of kubernetes-models, @kubernetes-models/istio and
// @kubernetes-models/prometheus-operator. Those packages are ESM-only, which Jest's CommonJS runtime cannot load,
// so test/k8s-manifests.spec.ts runs this file with node: objects as a JSON array on stdin, results on stdout.
import * as core from 'kubernetes-models/v1';
import * as apps from 'kubernetes-models/apps/v1';
import * as policy from 'kubernetes-models/policy/v1';
import * as extensions from '@kubernetes-models/istio/extensions.istio.io/v1alpha1';
import * as networkingAlpha3 from '@kubernetes-models/istio/networking.istio.io/v1alpha3';
import * as networkingBeta1 from '@kubernetes-models/istio/networking.istio.io/v1beta1';
import * as monitoring from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';

const MODELS = {
  v1: core,
  'apps/v1': apps,
  'policy/v1': policy,
  'extensions.istio.io/v1alpha1': extensions,
  'networking.istio.io/v1alpha3': networkingAlpha3,
  'networking.istio.io/v1beta1': networkingBeta1,
  'monitoring.coreos.com/v1': monitoring,
};

function validate(object) {
  const group = Object.hasOwn(MODELS, object.apiVersion) ? MODELS[object.apiVersion] : undefined;
  const Model = group && Object.hasOwn(group, object.kind) ? group[object.kind] : undefined;
  const result = { apiVersion: object.apiVersion, kind: object.kind, name: object.metadata?.name };
  if (typeof Model !== 'function') return { ...result, error: 'no model for this apiVersion/kind' };
  try {
    new Model(object).validate();
    return { ...result, model: Model.name };
  } catch (err) {
    return { ...result, error: err instanceof Error ? err.message : String(err) };
  }
}

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => (input += chunk));
process.stdin.on('end', () => {
  process.stdout.write(JSON.stringify(JSON.parse(input).map(validate)));
});
