import { LogLevel, Status } from '../abi';
import { decodePairs, HeaderMap } from '../header-map';
import { RequestTargetError, urlOnOrigin } from '../outgoing-request';
import type { HttpCallRecord } from '../types';
import { describe } from '../errors';
import type { VmApi } from './vm-api';
import { type HostFunctions, i32, u32 } from './args';

const REQUIRED_PSEUDO_HEADERS = [':method', ':path', ':authority'];

/** Where the call goes, or why it is a BAD_ARGUMENT; checked before any token is handed out. */
function callTarget(
  base: URL | undefined,
  cluster: string,
  map: HeaderMap,
  timeoutMs: number,
): URL | string {
  if (!base) return `unknown cluster "${cluster}"`;
  const missing = REQUIRED_PSEUDO_HEADERS.filter((h) => !map.get(h));
  if (missing.length > 0) return `missing ${missing.join(', ')}`;
  if (timeoutMs < 0) return `negative timeout ${timeoutMs}`;
  try {
    return urlOnOrigin(base, map.get(':path') ?? '');
  } catch (err) {
    if (err instanceof RequestTargetError) return err.message;
    throw err;
  }
}

/** proxy_http_call as Envoy does it: a cluster name, strict header pairs, the answer on the root context. */
export function httpCallCalls(vm: VmApi): HostFunctions {
  const { env } = vm;
  return {
    proxy_http_call(
      upPtr,
      upSize,
      headersPtr,
      headersSize,
      bodyPtr,
      bodySize,
      trailersPtr,
      trailersSize,
      timeout,
      tokenPtr,
    ) {
      const mem = vm.memory;
      const cluster = mem.readString(u32(upPtr), u32(upSize));
      const headers = decodePairs(mem.read(u32(headersPtr), u32(headersSize))) ?? [];
      const body = mem.read(u32(bodyPtr), u32(bodySize));
      decodePairs(mem.read(u32(trailersPtr), u32(trailersSize)));
      mem.assertRange(u32(tokenPtr), 4);
      const timeoutMs = i32(timeout);
      const record: HttpCallRecord = {
        vm: vm.index,
        cluster,
        headers,
        body,
        timeoutMs,
        status: Status.BAD_ARGUMENT,
      };
      env.recordHttpCall(record);
      const map = new HeaderMap(headers);
      const upstream = env.config.clusters.get(cluster);
      const target = callTarget(upstream?.base, cluster, map, timeoutMs);
      if (typeof target === 'string') {
        env.hostLog(vm.index, LogLevel.DEBUG, `proxy_http_call rejected (BAD_ARGUMENT): ${target}`);
        return Status.BAD_ARGUMENT;
      }
      const url = target;
      const token = vm.nextHttpCallToken();
      mem.writeU32(u32(tokenPtr), token);
      record.status = Status.OK;
      record.token = token;
      const outgoing = map.pairs.filter(([k]) => !k.startsWith(':'));
      outgoing.push(['host', map.get(':authority') ?? '']);
      const work = env.httpClient
        .send({
          url,
          cluster: upstream,
          method: map.get(':method') ?? 'GET',
          headers: outgoing,
          body,
          timeoutMs,
          maxResponseBytes: env.config.maxHttpCallResponseBytes,
        })
        .then(
          (response) => {
            record.response = response;
            vm.deliverHttpCallResponse(token, {
              headers: new HeaderMap(response.headers),
              trailers: new HeaderMap(),
              body: response.body,
            });
          },
          (err: unknown) => {
            record.error = describe(err);
            env.hostLog(
              vm.index,
              LogLevel.WARN,
              `http call ${token} to ${cluster} failed: ${record.error}`,
            );
            vm.deliverHttpCallResponse(token, undefined, record.error);
          },
        );
      vm.track(work);
      return Status.OK;
    },
  };
}
