/** Istio's workload identity as a URI SAN: `spiffe://<trust domain>/ns/<namespace>/sa/<service account>`. */
export function spiffeId(trustDomain: string, namespace: string, serviceAccount: string): string {
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}

/** The namespace in a principal (`.../ns/<ns>/...`), as istio_stats' getNamespace reads it. */
export function namespaceOfPrincipal(principal: string): string | undefined {
  const at = principal.indexOf('/ns/');
  if (at < 0) return undefined;
  const from = at + 4;
  const end = principal.indexOf('/', from);
  return end < 0 ? principal.slice(from) : principal.slice(from, end);
}

/** The SPIFFE id of a node from its metadata: trust domain from TRUST_DOMAIN (Istio's default
 * `cluster.local`), NAMESPACE, SERVICE_ACCOUNT (default `default`); undefined without a namespace. */
export function spiffeIdOfNode(meta: {
  NAMESPACE?: unknown;
  SERVICE_ACCOUNT?: unknown;
  TRUST_DOMAIN?: unknown;
}): string | undefined {
  const ns = typeof meta.NAMESPACE === 'string' ? meta.NAMESPACE : '';
  if (ns === '') return undefined;
  const sa =
    typeof meta.SERVICE_ACCOUNT === 'string' && meta.SERVICE_ACCOUNT
      ? meta.SERVICE_ACCOUNT
      : 'default';
  const td =
    typeof meta.TRUST_DOMAIN === 'string' && meta.TRUST_DOMAIN
      ? meta.TRUST_DOMAIN
      : 'cluster.local';
  return spiffeId(td, ns, sa);
}
