import { Agent, request } from 'node:http';
import { headerRecord, urlOnOrigin } from '../outgoing-request';
import type { ForwardedRequest, UpstreamResponse } from '../types';

/** Headers a proxy never forwards (hop-by-hop), plus the framing it recomputes. */
export const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'upgrade',
  'trailer',
  'content-length',
]);

const MAX_UPSTREAM_BODY = 64 << 20;

/** Envoy's local reply when the route timeout fires before the upstream answered. */
export function upstreamTimeoutResponse(): UpstreamResponse {
  return {
    status: 504,
    headers: [['content-type', 'text/plain']],
    body: 'upstream request timeout',
  };
}

/**
 * Forwards a (plugin-modified) request to the upstream over keep-alive HTTP/1.1. When the whole answer has not
 * arrived within `timeoutMs` (0 = no limit), the request is dropped and the answer is a 504, like Envoy's route
 * timeout.
 */
export class UpstreamClient {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 256 });

  constructor(
    private readonly base: URL,
    private readonly timeoutMs = 0,
  ) {}

  send(req: ForwardedRequest): Promise<UpstreamResponse> {
    const pseudo = new Map(req.headers.filter(([k]) => k.startsWith(':')));
    const headers = headerRecord(
      req.headers,
      (k) => k.startsWith(':') || HOP_BY_HOP.has(k) || k === 'host',
    );
    headers.host = pseudo.get(':authority') ?? this.base.host;
    if (req.body.length > 0 || !['GET', 'HEAD'].includes(pseudo.get(':method') ?? 'GET')) {
      headers['content-length'] = String(req.body.length);
    }
    return new Promise((resolve, reject) => {
      // The plugin may have rewritten :path; it still only picks a path on the upstream.
      const url = urlOnOrigin(this.base, pseudo.get(':path') ?? '/');
      let timer: NodeJS.Timeout | undefined;
      const fail = (err: Error) => {
        clearTimeout(timer);
        reject(err);
      };
      const out = request(
        url,
        { method: pseudo.get(':method') ?? 'GET', headers, agent: this.agent },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > MAX_UPSTREAM_BODY) out.destroy(new Error('upstream body too large'));
            else chunks.push(c);
          });
          res.on('end', () => {
            clearTimeout(timer);
            const pairs: Array<[string, string]> = [];
            for (let i = 0; i < res.rawHeaders.length; i += 2) {
              const k = res.rawHeaders[i].toLowerCase();
              if (!HOP_BY_HOP.has(k) || k === 'content-length')
                pairs.push([k, res.rawHeaders[i + 1]]);
            }
            resolve({ status: res.statusCode ?? 502, headers: pairs, body: Buffer.concat(chunks) });
          });
          res.on('error', fail);
        },
      );
      out.on('error', fail);
      if (this.timeoutMs > 0) {
        timer = setTimeout(() => {
          resolve(upstreamTimeoutResponse());
          out.destroy();
        }, this.timeoutMs);
      }
      out.end(req.body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
