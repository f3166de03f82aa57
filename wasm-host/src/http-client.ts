import { Agent, request } from 'node:http';
import { headerRecord } from './outgoing-request';
import type { HttpCallResponse } from './types';
import type { UpstreamCluster } from './upstream-cluster';

export interface OutgoingCall {
  url: URL;
  /** The cluster `url` is on: with several endpoints its ring hash on the Host header picks one. */
  cluster?: UpstreamCluster;
  method: string;
  headers: Array<[string, string]>;
  body: Buffer;
  /** 0 = no timeout. */
  timeoutMs: number;
  maxResponseBytes: number;
}

/** Plain HTTP/1.1 client for proxy_http_call; rejects on connection failure, timeout or oversize. */
export class HttpCallClient {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 64 });

  /** Sends on the endpoint the cluster picks; a failure without a response ejects that endpoint. */
  async send(call: OutgoingCall): Promise<HttpCallResponse> {
    // Envoy's hash policy for plugin calls: the Host header (:authority), the last one set.
    const host = call.headers.filter(([name]) => name === 'host').pop()?.[1] ?? '';
    const url = call.cluster ? await call.cluster.route(call.url, host) : call.url;
    const progress = { responded: false };
    try {
      const response = await this.request({ ...call, url }, progress);
      call.cluster?.answered(url);
      return response;
    } catch (err) {
      if (!progress.responded) call.cluster?.failed(url);
      throw err;
    }
  }

  private request(call: OutgoingCall, progress: { responded: boolean }): Promise<HttpCallResponse> {
    return new Promise((resolve, reject) => {
      const headers = headerRecord(call.headers);
      if (call.body.length > 0) headers['content-length'] = String(call.body.length);
      let timer: NodeJS.Timeout | undefined;
      const req = request(call.url, { method: call.method, headers, agent: this.agent }, (res) => {
        progress.responded = true;
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > call.maxResponseBytes) {
            req.destroy(new Error(`response body exceeds ${call.maxResponseBytes} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => {
          clearTimeout(timer);
          const pairs: Array<[string, string]> = [[':status', String(res.statusCode ?? 0)]];
          for (let i = 0; i < res.rawHeaders.length; i += 2) {
            pairs.push([res.rawHeaders[i].toLowerCase(), res.rawHeaders[i + 1]]);
          }
          resolve({ status: res.statusCode ?? 0, headers: pairs, body: Buffer.concat(chunks) });
        });
        res.on('error', (err) => {
          clearTimeout(timer);
          reject(err);
        });
      });
      req.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      if (call.timeoutMs > 0) {
        timer = setTimeout(
          () => req.destroy(new Error(`timeout after ${call.timeoutMs} ms`)),
          call.timeoutMs,
        );
      }
      req.end(call.body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
