import { Status, StreamType } from '../abi';
import { NetworkContextState } from '../contexts';
import { decodePairs } from '../header-map';
import type { VmApi } from './vm-api';
import { type HostFunctions, i32, u32 } from './args';

/** Continue, close and local replies on the current HTTP stream. */
export function streamCalls(vm: VmApi): HostFunctions {
  const continueStream = (t: number): Status => {
    const ctx = vm.streamContext();
    if (!ctx) return Status.BAD_ARGUMENT;
    if (t !== StreamType.HTTP_REQUEST && t !== StreamType.HTTP_RESPONSE) return Status.BAD_ARGUMENT;
    const phase = t === StreamType.HTTP_REQUEST ? 'request' : 'response';
    if (ctx.phase === phase) ctx.resume();
    return Status.OK;
  };
  return {
    proxy_continue_stream: (type) => continueStream(u32(type)),
    // ABI 0.1.0 spells continue per direction.
    proxy_continue_request: () => continueStream(StreamType.HTTP_REQUEST),
    proxy_continue_response: () => continueStream(StreamType.HTTP_RESPONSE),
    // Envoy's 0.1.0 clear_route_cache re-picks the route; this host has one fixed upstream.
    proxy_clear_route_cache: () => Status.OK,
    proxy_close_stream(type) {
      const ctx = vm.streamContext();
      if (!ctx) return Status.BAD_ARGUMENT;
      const t = u32(type);
      if (ctx instanceof NetworkContextState) {
        // Envoy closes that end of the connection after flushing what was written (FlushWrite).
        if (t === StreamType.DOWNSTREAM) ctx.closeDownstream = true;
        else if (t === StreamType.UPSTREAM) ctx.closeUpstream = true;
        else return Status.BAD_ARGUMENT;
        ctx.resume();
        return Status.OK;
      }
      if (t !== StreamType.HTTP_REQUEST && t !== StreamType.HTTP_RESPONSE)
        return Status.BAD_ARGUMENT;
      if (ctx.phase !== 'done') {
        ctx.reset = true;
        ctx.responseCodeDetails ||= 'wasm_close_stream';
        ctx.resume();
      }
      return Status.OK;
    },
    proxy_send_local_response(
      statusCode,
      detailsPtr,
      detailsSize,
      bodyPtr,
      bodySize,
      headersPtr,
      headersSize,
      grpcStatus,
    ) {
      const mem = vm.memory;
      const details = mem.readString(u32(detailsPtr), u32(detailsSize));
      const body = mem.read(u32(bodyPtr), u32(bodySize));
      const headers = decodePairs(mem.read(u32(headersPtr), u32(headersSize))) ?? [];
      const ctx = vm.streamContext();
      if (!ctx || ctx.phase === 'done') return Status.BAD_ARGUMENT;
      if (body.length > vm.env.config.streamLimits.bufferLimitBytes) return Status.BAD_ARGUMENT;
      const status = u32(statusCode);
      if (status < 200 || status > 599) return Status.BAD_ARGUMENT;
      if (ctx.localReplyCount > 0) return Status.BAD_ARGUMENT;
      ctx.localReplyCount++;
      ctx.localReply = { status, details, body, headers, grpcStatus: i32(grpcStatus) };
      ctx.responseCodeDetails = details;
      ctx.resume();
      return Status.OK;
    },
  };
}
