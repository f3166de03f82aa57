import type { HttpCallRecord } from '../../../wasm-host/src';
import { checkReportV2 } from '../../../src/istio/report-v2-validator';
import {
  ISTIO_LABELS,
  ISTIO_TCP_LABELS,
  type IstioLabel,
  type ReportV2,
} from '../../../src/istio/report-v2.types';

export type Dimensions = Record<IstioLabel, string>;

/** Parses a v2 body and checks it exactly as mesha does; throws with mesha's description. */
export function parseReportV2(body: Buffer): ReportV2 {
  const checked = checkReportV2(JSON.parse(body.toString('utf8')));
  if (!checked.ok) throw new Error(`mesha would reject this report: ${checked.problem}`);
  return checked.report;
}

export interface Entry {
  dims: Dimensions;
  n: number;
  duration: number[];
  durationSumMs: number;
  requestBytes: number[];
  requestBytesSum: number;
  responseBytes: number[];
  responseBytesSum: number;
}

/** Every entry of the reports among `calls` (dispatched or not), with its dimensions by name. */
export function entriesOf(calls: HttpCallRecord[]): Entry[] {
  return calls.flatMap((call) => {
    const report = parseReportV2(call.body);
    return report.http.map((e) => ({
      dims: Object.fromEntries(
        ISTIO_LABELS.map((name, i) => [name, report.strings[e.d[i]]]),
      ) as Dimensions,
      n: e.n,
      duration: e.duration_ms,
      durationSumMs: e.duration_sum_ms,
      requestBytes: e.request_bytes,
      requestBytesSum: e.request_bytes_sum,
      responseBytes: e.response_bytes,
      responseBytesSum: e.response_bytes_sum,
    }));
  });
}

/** Bookinfo's two workloads as Istio's injector describes them in node metadata. */
export const PRODUCTPAGE = {
  NAME: 'productpage-v1-6b746f74dc-9stvs',
  NAMESPACE: 'bookinfo',
  WORKLOAD_NAME: 'productpage-v1',
  CLUSTER_ID: 'Kubernetes',
  MESH_ID: 'cluster.local',
  SERVICE_ACCOUNT: 'bookinfo-productpage',
  OWNER: 'kubernetes://apis/apps/v1/namespaces/bookinfo/deployments/productpage-v1',
  LABELS: {
    app: 'productpage',
    version: 'v1',
    'service.istio.io/canonical-name': 'productpage',
    'service.istio.io/canonical-revision': 'v1',
  },
};
export const REVIEWS = {
  NAME: 'reviews-v1-545db77b95-2dkzt',
  NAMESPACE: 'bookinfo',
  WORKLOAD_NAME: 'reviews-v1',
  CLUSTER_ID: 'Kubernetes',
  MESH_ID: 'cluster.local',
  SERVICE_ACCOUNT: 'bookinfo-reviews',
  OWNER: 'kubernetes://apis/apps/v1/namespaces/bookinfo/deployments/reviews-v1',
  LABELS: {
    app: 'reviews',
    version: 'v1',
    'service.istio.io/canonical-name': 'reviews',
    'service.istio.io/canonical-revision': 'v1',
  },
};
export const PRODUCTPAGE_SPIFFE = 'spiffe://cluster.local/ns/bookinfo/sa/bookinfo-productpage';
export const REVIEWS_SPIFFE = 'spiffe://cluster.local/ns/bookinfo/sa/bookinfo-reviews';
/** What istiod puts on the outbound cluster of reviews (filter_metadata.istio.services). */
export const REVIEWS_CLUSTER = 'outbound|9080||reviews.bookinfo.svc.cluster.local';
export const REVIEWS_CLUSTER_METADATA = {
  filter_metadata: {
    istio: {
      services: [
        { host: 'reviews.bookinfo.svc.cluster.local', name: 'reviews', namespace: 'bookinfo' },
      ],
    },
  },
};

/** A TCP entry has no response_code or grpc_response_status. */
export type TcpDimensions = Partial<Record<IstioLabel, string>>;

export interface TcpEntryOf {
  dims: TcpDimensions;
  opened: number;
  closed: number;
  received: number;
  sent: number;
}

/** Every TCP entry of the reports among `calls`, with its dimensions by name. */
export function tcpEntriesOf(calls: HttpCallRecord[]): TcpEntryOf[] {
  return calls.flatMap((call) => {
    const report = parseReportV2(call.body);
    return (report.tcp ?? []).map((e) => ({
      dims: Object.fromEntries(
        ISTIO_TCP_LABELS.map((name, i) => [name, report.strings[e.d[i]]]),
      ) as TcpDimensions,
      opened: e.opened,
      closed: e.closed,
      received: e.received_bytes,
      sent: e.sent_bytes,
    }));
  });
}
