import { connect } from 'node:net';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * Sends `bytes` as-is over a fresh TCP connection to 127.0.0.1:`port` (for requests no HTTP client
 * would produce) and resolves with the first response, or rejects if none arrives in `timeoutMs`.
 */
export function rawRequest(
  port: number,
  bytes: string | Buffer,
  { endAfterWrite = false, timeoutMs = 10_000 } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let data = Buffer.alloc(0);
    let settled = false;
    const finish = (err?: Error) => {
      if (settled) return;
      const parsed = parseResponse(data);
      if (!err && !parsed) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (parsed) resolve(parsed);
      else reject(err);
    };
    const timer = setTimeout(
      () => finish(new Error(`no response in ${timeoutMs} ms; got: ${data.toString('latin1')}`)),
      timeoutMs,
    );
    socket.on('data', (chunk) => {
      data = Buffer.concat([data, chunk]);
      finish();
    });
    socket.on('error', () => {
      /* the server may reset after answering; the answer is what counts */
    });
    socket.on('close', () =>
      finish(new Error(`connection closed; got: ${data.toString('latin1')}`)),
    );
    socket.write(bytes, () => {
      if (endAfterWrite) socket.end();
    });
  });
}

function parseResponse(data: Buffer): RawResponse | undefined {
  const text = data.toString('utf8');
  const headerEnd = text.indexOf('\r\n\r\n');
  if (headerEnd < 0) return undefined;
  const [statusLine, ...headerLines] = text.slice(0, headerEnd).split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1]);
  const headers: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const body = text.slice(headerEnd + 4);
  const length = Number(headers['content-length'] ?? NaN);
  if (Number.isFinite(length) && Buffer.byteLength(body) < length) return undefined;
  return { status, headers, body };
}
