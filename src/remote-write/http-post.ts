import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

/** What a receiver answered, or why there was no answer. */
export type PostOutcome =
  | { kind: 'response'; status: number; headers: IncomingHttpHeaders; body: string }
  | { kind: 'error'; message: string };

export interface PostTarget {
  url: URL;
  headers: Readonly<Record<string, string>>;
  timeoutMs: number;
  /** PEM CA bundle for https; the system's CAs when undefined. */
  ca?: string;
  rejectUnauthorized: boolean;
}

/** How much of an error body is kept (for the log line). */
const BODY_KEPT_BYTES = 512;

/**
 * POSTs bodies to one URL over one kept-alive connection. Never throws: a network error or a
 * timeout is an outcome like a status code.
 */
export class HttpPoster {
  private readonly agent: HttpAgent;

  constructor(private readonly target: PostTarget) {
    const options = { keepAlive: true, maxSockets: 1 };
    this.agent =
      target.url.protocol === 'https:'
        ? new HttpsAgent({
            ...options,
            ca: target.ca,
            rejectUnauthorized: target.rejectUnauthorized,
          })
        : new HttpAgent(options);
  }

  post(body: Buffer, timeoutMs = this.target.timeoutMs): Promise<PostOutcome> {
    const { url, headers } = this.target;
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve) => {
      let settled = false;
      const settle = (outcome: PostOutcome) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(outcome);
      };
      const req = send(url, {
        method: 'POST',
        agent: this.agent,
        headers: { ...headers, 'Content-Length': String(body.length) },
      });
      const timer = setTimeout(() => {
        req.destroy();
        settle({ kind: 'error', message: `no answer within ${timeoutMs} ms` });
      }, timeoutMs);
      req.on('error', (err) => settle({ kind: 'error', message: err.message }));
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        let kept = 0;
        res.on('data', (chunk: Buffer) => {
          if (kept < BODY_KEPT_BYTES) chunks.push(chunk.subarray(0, BODY_KEPT_BYTES - kept));
          kept += chunk.length;
        });
        res.on('error', (err) => settle({ kind: 'error', message: err.message }));
        res.on('end', () =>
          settle({
            kind: 'response',
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      });
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
