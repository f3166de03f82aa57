// Istio mode, per HTTP stream: at proxy_on_log (where Istio's stats filter records, so sizes,
// flags and duration are final) the 25 dimensions of Istio's standard metrics, derived as
// istio/proxy's istio_stats filter derives them (see the README, "Istio mode", for the sources).
//
// Host calls per stream (tested): inbound 21, outbound 22 (21 when the upstream SAN is there;
// the peer's identity stands in for it otherwise), +1 for gRPC (response.grpc_status), +1
// outbound without an exchanged peer (the upstream endpoint's metadata):
// listener_direction; 7 peer fields from filter_state; 2 SANs; request.host, xds.cluster_name and
// 3 cluster-metadata service fields; content-type; response.code and response.flags;
// request/response total sizes; request.duration.
// The local workload is read once per configuration.

import {
  MapType,
  getHeader,
  getPropertyInt,
  getPropertyString,
  releaseValue,
  valuePtr,
  valueSize,
} from './host';
import { clip } from './traffic';

export const DIMENSIONS = 25;
export const REPORTER = 0;
export const SOURCE_WORKLOAD = 1;
export const SOURCE_WORKLOAD_NAMESPACE = 2;
export const SOURCE_PRINCIPAL = 3;
export const SOURCE_APP = 4;
export const SOURCE_VERSION = 5;
export const SOURCE_CANONICAL_SERVICE = 6;
export const SOURCE_CANONICAL_REVISION = 7;
export const SOURCE_CLUSTER = 8;
export const DESTINATION_WORKLOAD = 9;
export const DESTINATION_WORKLOAD_NAMESPACE = 10;
export const DESTINATION_PRINCIPAL = 11;
export const DESTINATION_APP = 12;
export const DESTINATION_VERSION = 13;
export const DESTINATION_SERVICE = 14;
export const DESTINATION_SERVICE_NAME = 15;
export const DESTINATION_SERVICE_NAMESPACE = 16;
export const DESTINATION_CANONICAL_SERVICE = 17;
export const DESTINATION_CANONICAL_REVISION = 18;
export const DESTINATION_CLUSTER = 19;
export const REQUEST_PROTOCOL = 20;
export const RESPONSE_CODE = 21;
export const GRPC_RESPONSE_STATUS = 22;
export const RESPONSE_FLAGS = 23;
export const CONNECTION_SECURITY_POLICY = 24;

/** Longest dimension value kept (mesha cuts label values further, to LABEL_VALUE_MAX_CHARS). */
export const MAX_VALUE_CHARS = 256;

const UNKNOWN = 'unknown';
const LATEST = 'latest';

/** Envoy's core response flags in bit order (envoy/stream_info/stream_info.h), as short strings
 * (ResponseFlagUtils::toShortString), comma-separated. */
const FLAG_NAMES = ascii(
  'LH,UH,UT,LR,UR,UF,UC,UO,NR,DI,FI,RL,UAEX,RLSE,DC,URX,SI,IH,DPE,UMSDR,RFCF,NFCF,DT,UPE,NC,OM,DF,DO,DR,UDO',
);

/** Envoy's short string for a flags bitmask: the set flags joined by ',', '-' for none. */
export function flagsString(bits: i64): string {
  if (bits == 0) return '-';
  const n = <i32>load<u16>(FLAG_NAMES);
  let out = '';
  let flag = 0;
  let from = 0;
  for (let i = 0; i <= n; i++) {
    if (i < n && load<u8>(FLAG_NAMES + 2 + <usize>i) != 0x2c) continue;
    if (((bits >> flag) & 1) != 0) {
      if (out.length > 0) out += ',';
      out += String.UTF8.decodeUnsafe(FLAG_NAMES + 2 + <usize>from, <usize>(i - from));
    }
    flag++;
    from = i + 1;
  }
  return out;
}

function orElse(value: string | null, fallback: string): string {
  if (value === null || value.length == 0) return fallback;
  return clip(value, MAX_VALUE_CHARS);
}

function text(value: string | null): string {
  return value === null ? '' : clip(value, MAX_VALUE_CHARS);
}

/** The identity fields of one side (source or destination), in this order. */
const WORKLOAD = 0;
const NAMESPACE = 1;
const PRINCIPAL = 2;
const CANONICAL_SERVICE = 5;
const CANONICAL_REVISION = 6;
const CLUSTER = 7;
const SIDE_FIELDS = 8;
/** Where a side's fields (workload, namespace, principal, app, version, canonical service,
 * canonical revision, cluster) go among the dimensions. */
const SOURCE_SIDE: StaticArray<i32> = [
  SOURCE_WORKLOAD,
  SOURCE_WORKLOAD_NAMESPACE,
  SOURCE_PRINCIPAL,
  SOURCE_APP,
  SOURCE_VERSION,
  SOURCE_CANONICAL_SERVICE,
  SOURCE_CANONICAL_REVISION,
  SOURCE_CLUSTER,
];
const DESTINATION_SIDE: StaticArray<i32> = [
  DESTINATION_WORKLOAD,
  DESTINATION_WORKLOAD_NAMESPACE,
  DESTINATION_PRINCIPAL,
  DESTINATION_APP,
  DESTINATION_VERSION,
  DESTINATION_CANONICAL_SERVICE,
  DESTINATION_CANONICAL_REVISION,
  DESTINATION_CLUSTER,
];

/** Per side field, the name of its value in this proxy's node metadata (after LOCAL_PREFIX,
 * '|' separating segments: label names have dots) and in the peer object that Istio's metadata
 * exchange leaves in filter state (Istio 1.24+ `downstream_peer` / `upstream_peer`, istio/proxy
 * WorkloadMetadataObject field names). The principal comes from the connection instead. */
const LOCAL_FIELDS: StaticArray<usize> = [
  ascii('WORKLOAD_NAME'),
  ascii('NAMESPACE'),
  0,
  ascii('LABELS|app'),
  ascii('LABELS|version'),
  ascii('LABELS|service.istio.io/canonical-name'),
  ascii('LABELS|service.istio.io/canonical-revision'),
  ascii('CLUSTER_ID'),
];
const PEER_FIELDS: StaticArray<usize> = [
  ascii('workload'),
  ascii('namespace'),
  0,
  ascii('app'),
  ascii('version'),
  ascii('service'),
  ascii('revision'),
  ascii('cluster'),
];
const LOCAL_PREFIX = ascii('node|metadata|');
const DOWNSTREAM_PEER = ascii('filter_state.downstream_peer.');
const UPSTREAM_PEER = ascii('filter_state.upstream_peer.');
const SERVICE_PREFIX = ascii('xds.cluster_metadata.filter_metadata.istio.services.0.');

/** Room for a property path put together from two `ascii()` parts (same layout). */
const PATH: usize = memory.data(256);

/** The property `prefix` + `name` (both `ascii()` byte strings) as a string, null when absent. */
function property(prefix: usize, name: usize, sep: u8 = 0x2e): string | null {
  const a = <usize>load<u16>(prefix);
  const b = <usize>load<u16>(name);
  store<u16>(PATH, <u16>(a + b));
  memory.copy(PATH + 2, prefix + 2, a);
  memory.copy(PATH + 2 + a, name + 2, b);
  return getPropertyString(PATH, sep);
}

/** This proxy's side fields from node metadata, raw as istio_stats takes them (no fallbacks);
 * read once per configuration. */
export function readLocalWorkload(): StaticArray<string> {
  const local = new StaticArray<string>(SIDE_FIELDS);
  for (let i = 0; i < SIDE_FIELDS; i++) {
    const name = unchecked(LOCAL_FIELDS[i]);
    unchecked((local[i] = name == 0 ? '' : text(property(LOCAL_PREFIX, name, 0x7c))));
  }
  return local;
}

/** One finished stream as the Istio window aggregates it. */
export class IstioObservation {
  dims: StaticArray<string> = new StaticArray<string>(DIMENSIONS);
  /** The peer's side fields, filled per stream. */
  peer: StaticArray<string> = new StaticArray<string>(SIDE_FIELDS);
  durationNs: u64 = 0;
  requestBytes: u64 = 0;
  responseBytes: u64 = 0;
}

/** The upstream endpoint's `filter_metadata.istio.workload`, `workload;namespace;canonical
 * service;canonical revision;cluster` (istio/proxy convertEndpointMetadata: five parts at least;
 * no app or version), into the peer's side fields. */
function readEndpointPeer(peer: StaticArray<string>): void {
  const value = getPropertyString(
    ascii('xds.upstream_host_metadata.filter_metadata.istio.workload'),
  );
  if (value === null) return;
  const parts = value.split(';');
  if (parts.length < 5) return;
  unchecked((peer[WORKLOAD] = text(parts[0])));
  unchecked((peer[NAMESPACE] = text(parts[1])));
  unchecked((peer[CANONICAL_SERVICE] = text(parts[2])));
  unchecked((peer[CANONICAL_REVISION] = text(parts[3])));
  unchecked((peer[CLUSTER] = text(parts[4])));
}

/** The namespace in a SPIFFE principal (`.../ns/<ns>/sa/...`), '' when there is none. */
export function namespaceOfPrincipal(principal: string): string {
  const at = principal.indexOf('/ns/');
  if (at < 0) return '';
  const from = at + 4;
  const end = principal.indexOf('/', from);
  return end < 0 ? principal.substring(from) : principal.substring(from, end);
}

function isPassthrough(cluster: string): bool {
  return (
    cluster == 'BlackHoleCluster' ||
    cluster == 'PassthroughCluster' ||
    cluster == 'InboundPassthroughCluster' ||
    cluster == 'InboundPassthroughClusterIpv4' ||
    cluster == 'InboundPassthroughClusterIpv6'
  );
}

/** Envoy's Grpc::Common::isGrpcRequestHeaders: content-type application/grpc[+...|;...]. */
function isGrpcRequest(): bool {
  if (!getHeader(MapType.RequestHeaders, ascii('content-type'))) return false;
  const prefix = ascii('application/grpc');
  const n = <usize>load<u16>(prefix);
  let grpc = false;
  if (valueSize >= n && memory.compare(valuePtr, prefix + 2, n) == 0) {
    if (valueSize == n) grpc = true;
    else {
      const next = load<u8>(valuePtr + n);
      grpc = next == 0x2b || next == 0x3b;
    }
  }
  releaseValue();
  return grpc;
}

/** `n` in decimal. */
export function decimal(n: u32): string {
  let digits = 1;
  for (let x = n; x >= 10; x /= 10) digits++;
  const s = changetype<string>(__new((<usize>digits) << 1, idof<string>()));
  let x = n;
  for (let i = digits - 1; i >= 0; i--) {
    store<u16>(changetype<usize>(s) + ((<usize>i) << 1), <u16>(0x30 + (x % 10)));
    x /= 10;
  }
  return s;
}

/** Fills `o` with the dimensions and values of the stream being logged. */
export function observeIstio(local: StaticArray<string>, o: IstioObservation): void {
  const d = o.dims;
  observeIdentity(local, d, o.peer, text(getPropertyString(ascii('request.host'))));
  const grpc = isGrpcRequest();
  unchecked((d[REQUEST_PROTOCOL] = grpc ? 'grpc' : 'http'));
  // response.code is absent when there was no response: Istio writes 0.
  const code = getPropertyInt(ascii('response.code'), 0);
  unchecked((d[RESPONSE_CODE] = decimal(code < 0 || code > 999 ? 0 : <u32>code)));
  let grpcStatus = '';
  if (grpc) {
    const status = getPropertyInt(ascii('response.grpc_status'), -1);
    if (status >= 0 && status <= 0xffffffff) grpcStatus = decimal(<u32>status);
  }
  unchecked((d[GRPC_RESPONSE_STATUS] = grpcStatus));
  unchecked((d[RESPONSE_FLAGS] = flagsString(getPropertyInt(ascii('response.flags'), 0))));

  const requestBytes = getPropertyInt(ascii('request.total_size'), 0);
  const responseBytes = getPropertyInt(ascii('response.total_size'), 0);
  const duration = getPropertyInt(ascii('request.duration'), 0);
  o.requestBytes = requestBytes > 0 ? <u64>requestBytes : 0;
  o.responseBytes = responseBytes > 0 ? <u64>responseBytes : 0;
  o.durationNs = duration > 0 ? <u64>duration : 0;
}

/** Fills `d` with the dimensions of the TCP connection in whose callback it runs: the identity
 * labels as for HTTP (no Host header: the service comes from the cluster metadata, else the local
 * canonical service inbound, `unknown` outbound), `request_protocol` tcp, `response_flags`; the two
 * HTTP-only dimensions stay empty (TCP series do not carry them). */
export function observeTcp(
  local: StaticArray<string>,
  d: StaticArray<string>,
  peer: StaticArray<string>,
): void {
  observeIdentity(local, d, peer, '');
  unchecked((d[REQUEST_PROTOCOL] = 'tcp'));
  unchecked((d[RESPONSE_CODE] = ''));
  unchecked((d[GRPC_RESPONSE_STATUS] = ''));
  unchecked((d[RESPONSE_FLAGS] = flagsString(getPropertyInt(ascii('response.flags'), 0))));
}

/** Whether Istio's metadata exchange has left the peer in filter state yet (`downstream_peer`
 * inbound, `upstream_peer` outbound; istio_stats' peerInfoRead): 2 host calls. */
export function peerKnown(): bool {
  const inbound = getPropertyInt(ascii('listener_direction'), 0) == 1;
  return property(inbound ? DOWNSTREAM_PEER : UPSTREAM_PEER, ascii('workload')) !== null;
}

/** The dimensions every Istio metric shares (reporter, both sides, destination service, security
 * policy), into `d`; `peer` is scratch room for the peer's side fields. */
function observeIdentity(
  local: StaticArray<string>,
  d: StaticArray<string>,
  peer: StaticArray<string>,
  requestHost: string,
): void {
  // Envoy's listener_direction: 1 inbound, 2 outbound; istio_stats reports as the client side
  // unless the listener is inbound.
  const inbound = getPropertyInt(ascii('listener_direction'), 0) == 1;
  const peerObject = inbound ? DOWNSTREAM_PEER : UPSTREAM_PEER;
  let peerFound = false;
  for (let i = 0; i < SIDE_FIELDS; i++) {
    const name = unchecked(PEER_FIELDS[i]);
    const value: string | null = name == 0 ? null : property(peerObject, name);
    if (value !== null) peerFound = true;
    unchecked((peer[i] = text(value)));
  }
  // No exchanged peer on the client side: istio_stats falls back to the upstream endpoint's metadata.
  if (!peerFound && !inbound) readEndpointPeer(peer);

  // Principals: inbound from the downstream connection's SANs, outbound from the upstream's,
  // the peer's identity standing in for a missing upstream SAN.
  let peerSan: string;
  let localSan: string;
  if (inbound) {
    peerSan = text(getPropertyString(ascii('connection.uri_san_peer_certificate')));
    localSan = text(getPropertyString(ascii('connection.uri_san_local_certificate')));
  } else {
    peerSan = text(getPropertyString(ascii('upstream.uri_san_peer_certificate')));
    if (peerSan.length == 0) peerSan = text(property(UPSTREAM_PEER, ascii('identity')));
    localSan = text(getPropertyString(ascii('upstream.uri_san_local_certificate')));
  }
  unchecked((peer[PRINCIPAL] = peerSan));
  // The peer's namespace: from its principal when there is one, else from its metadata.
  const sanNamespace = namespaceOfPrincipal(peerSan);
  if (sanNamespace.length > 0) unchecked((peer[NAMESPACE] = sanNamespace));

  // destination_service: the upstream cluster's istio service metadata, else the Host header.
  let serviceHost = requestHost;
  let serviceName = serviceHost;
  let serviceNamespace = '';
  const cluster = text(getPropertyString(ascii('xds.cluster_name')));
  if (isPassthrough(cluster)) {
    serviceName = cluster;
  } else {
    const host = property(SERVICE_PREFIX, ascii('host'));
    const name = property(SERVICE_PREFIX, ascii('name'));
    const ns = property(SERVICE_PREFIX, ascii('namespace'));
    if (host !== null) serviceHost = text(host);
    if (ns !== null) serviceNamespace = text(ns);
    if (name !== null) serviceName = text(name);
    else if (host !== null) {
      const dot = serviceHost.indexOf('.');
      serviceName = dot < 0 ? serviceHost : serviceHost.substring(0, dot);
    }
  }

  // This proxy's side as node metadata says, raw; the peer's with Istio's fallbacks.
  const localSide = inbound ? DESTINATION_SIDE : SOURCE_SIDE;
  const peerSide = inbound ? SOURCE_SIDE : DESTINATION_SIDE;
  for (let i = 0; i < SIDE_FIELDS; i++) {
    const mine = i == PRINCIPAL ? orElse(localSan, UNKNOWN) : unchecked(local[i]);
    unchecked((d[localSide[i]] = mine));
    const theirs = orElse(unchecked(peer[i]), i == CANONICAL_REVISION ? LATEST : UNKNOWN);
    unchecked((d[peerSide[i]] = theirs));
  }
  if (inbound) {
    unchecked((d[REPORTER] = 'destination'));
    const canonical = unchecked(local[CANONICAL_SERVICE]);
    unchecked((d[DESTINATION_SERVICE] = serviceHost.length > 0 ? serviceHost : canonical));
    unchecked((d[DESTINATION_SERVICE_NAME] = serviceName.length > 0 ? serviceName : canonical));
    unchecked((d[DESTINATION_SERVICE_NAMESPACE] = unchecked(local[NAMESPACE])));
    // mutual_tls when both SANs are there (istio_stats), else none.
    unchecked(
      (d[CONNECTION_SECURITY_POLICY] =
        peerSan.length > 0 && localSan.length > 0 ? 'mutual_tls' : 'none'),
    );
  } else {
    unchecked((d[REPORTER] = 'source'));
    unchecked((d[DESTINATION_SERVICE] = orElse(serviceHost, UNKNOWN)));
    unchecked((d[DESTINATION_SERVICE_NAME] = orElse(serviceName, UNKNOWN)));
    const peerNamespace = orElse(unchecked(peer[NAMESPACE]), UNKNOWN);
    unchecked(
      (d[DESTINATION_SERVICE_NAMESPACE] =
        serviceNamespace.length > 0 ? serviceNamespace : peerNamespace),
    );
    unchecked((d[CONNECTION_SECURITY_POLICY] = UNKNOWN));
  }
}
