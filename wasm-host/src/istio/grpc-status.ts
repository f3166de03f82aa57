import type { HeaderMap } from '../header-map';

/** Envoy's Grpc::Common::isGrpcRequestHeaders: content-type application/grpc, optionally +suffix or ;params. */
export function isGrpcContentType(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const ct = contentType.toLowerCase();
  return (
    ct === 'application/grpc' ||
    ct.startsWith('application/grpc+') ||
    ct.startsWith('application/grpc;')
  );
}

/** gRPC's HTTP-to-status mapping (Envoy Grpc::Utility::httpToGrpcStatus). */
export function httpToGrpcStatus(code: number): number {
  switch (code) {
    case 400:
      return 13; // INTERNAL
    case 401:
      return 16; // UNAUTHENTICATED
    case 403:
      return 7; // PERMISSION_DENIED
    case 404:
      return 12; // UNIMPLEMENTED
    case 429:
    case 502:
    case 503:
    case 504:
      return 14; // UNAVAILABLE
    default:
      return 2; // UNKNOWN
  }
}

function statusIn(map: HeaderMap | undefined): number | undefined {
  const v = map?.get('grpc-status');
  if (v === undefined || !/^[0-9]{1,10}$/.test(v)) return undefined;
  const n = Number(v);
  return n <= 0xffffffff ? n : undefined;
}

/** Envoy's `response.grpc_status` (Grpc::Common::getGrpcStatus with stream info): grpc-status of
 * the trailers, else of the headers, else mapped from the HTTP status; undefined without a response. */
export function grpcStatusOf(
  headers: HeaderMap | undefined,
  trailers: HeaderMap | undefined,
): number | undefined {
  const fromTrailers = statusIn(trailers);
  if (fromTrailers !== undefined) return fromTrailers;
  const fromHeaders = statusIn(headers);
  if (fromHeaders !== undefined) return fromHeaders;
  const status = Number(headers?.get(':status'));
  return Number.isInteger(status) && status > 0 ? httpToGrpcStatus(status) : undefined;
}
