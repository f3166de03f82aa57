import { connect, type Socket } from 'node:net';
import { startInProcessMesha, type InProcessMesha } from './support/mesha-app';
import { sumSamples } from './support/prometheus-text';
import { rawRequest } from './support/raw-http';
import { waitFor } from './support/wait-for';

const portOf = (url: string) => Number(new URL(url).port);

interface WatchedSocket {
  socket: Socket;
  received: () => string;
  closed: () => boolean;
}

/** A socket to `port` that records the first bytes it gets back and when it closes. */
function openSocket(port: number): Promise<WatchedSocket> {
  return new Promise((resolve, reject) => {
    let data = '';
    let closed = false;
    const socket = connect(port, '127.0.0.1');
    socket.on('data', (chunk) => (data += chunk.toString('latin1')));
    socket.on('close', () => (closed = true));
    socket.on('error', () => undefined);
    socket.once('connect', () => resolve({ socket, received: () => data, closed: () => closed }));
    socket.once('error', reject);
  });
}

const refused = async (mesha: InProcessMesha, reason: string) =>
  sumSamples(await mesha.metrics(), 'mesha_connections_refused_total', { reason });

describe('mesha connection limits: idle floods', () => {
  let mesha: InProcessMesha;
  const sockets: Socket[] = [];
  beforeAll(async () => {
    mesha = await startInProcessMesha({ MAX_CONNECTIONS: '20', HEADERS_TIMEOUT_MS: '1000' });
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await mesha.close();
  });

  it('closes connections past MAX_CONNECTIONS at once, idle ones after HEADERS_TIMEOUT_MS, counted and logged rate-limited', async () => {
    const port = portOf(mesha.url);
    const idle: WatchedSocket[] = [];
    for (let i = 0; i < 60; i++) {
      const s = await openSocket(port);
      sockets.push(s.socket);
      idle.push(s);
    }
    // 40 of them were closed by mesha straight away.
    await waitFor(
      '40 refused connections',
      async () => (await refused(mesha, 'max_connections')) >= 40,
      {
        timeoutMs: 20_000,
      },
    );
    expect(await refused(mesha, 'max_connections')).toBe(40);
    const open = sumSamples(await mesha.metrics(), 'mesha_connections_open');
    expect(open).toBeLessThanOrEqual(20);
    // The 20 admitted ones never send a request: each is answered 408 and closed.
    await waitFor('every idle socket closed by mesha', () => idle.every((s) => s.closed()), {
      timeoutMs: 30_000,
    });
    const timedOut = idle.filter((s) => s.received().startsWith('HTTP/1.1 408'));
    expect(timedOut).toHaveLength(20);
    expect(await refused(mesha, 'timeout')).toBe(20);
    expect(sumSamples(await mesha.metrics(), 'mesha_connections_open')).toBe(0);
    // Then mesha serves again.
    expect((await fetch(`${mesha.url}/healthz`)).status).toBe(200);
    // 60 refusals, a handful of log lines (one per reason per 10 s).
    const lines = mesha.logs.filter((l) => l.event === 'refused');
    expect(lines.length).toBeGreaterThanOrEqual(2);
    expect(lines.length).toBeLessThanOrEqual(4);
    expect(lines[0]).toMatchObject({ level: 'warn', reason: 'max_connections' });
  }, 60_000);
});

describe('mesha body limits: slow bodies', () => {
  let mesha: InProcessMesha;
  const sockets: Socket[] = [];
  const KiB = 1024;
  beforeAll(async () => {
    mesha = await startInProcessMesha({
      BODY_LIMIT_BYTES: String(1024 * KiB),
      MAX_BODY_BYTES_IN_FLIGHT: String(2048 * KiB),
      REQUEST_TIMEOUT_MS: '3000',
      HEADERS_TIMEOUT_MS: '3000',
    });
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await mesha.close();
  });

  it('bounds the body bytes held for clients that send 1 MiB - 1 byte slowly; 503 past the bound', async () => {
    const port = portOf(mesha.url);
    const slow: WatchedSocket[] = [];
    let maxInFlight = 0;
    for (let i = 0; i < 10; i++) {
      const s = await openSocket(port);
      sockets.push(s.socket);
      slow.push(s);
      s.socket.write(
        'POST /wasmCallback HTTP/1.1\r\nHost: 127.0.0.1\r\nmelonMsg: m\r\n' +
          `Content-Length: ${1024 * KiB - 1}\r\n\r\n`,
      );
      // Half of the body, then nothing: the client stalls.
      s.socket.write(Buffer.alloc(512 * KiB, 'a'));
      await waitFor(`client ${i} read or refused`, async () => {
        const inFlight = sumSamples(await mesha.metrics(), 'mesha_body_bytes_in_flight');
        maxInFlight = Math.max(maxInFlight, inFlight);
        return inFlight >= Math.min(i + 1, 2) * 512 * KiB || s.received() !== '';
      });
    }
    const refusedNow = slow.filter((s) => s.received().startsWith('HTTP/1.1 503'));
    expect(refusedNow.length).toBeGreaterThanOrEqual(7);
    expect(refusedNow[0].received()).toMatch(/retry-after: 1/i);
    expect(refusedNow[0].received()).toMatch(/"statusCode":503/);
    expect(maxInFlight).toBeLessThanOrEqual(2048 * KiB);
    expect(await refused(mesha, 'body_bytes_in_flight')).toBe(refusedNow.length);
    // The stalled ones time out (408) and their bytes are released; a report goes through again.
    await waitFor('every slow client answered', () => slow.every((s) => s.received() !== ''), {
      timeoutMs: 30_000,
    });
    await waitFor(
      'no body bytes in flight',
      async () => sumSamples(await mesha.metrics(), 'mesha_body_bytes_in_flight') === 0,
      { timeoutMs: 30_000 },
    );
    const res = await fetch(`${mesha.url}/wasmCallback`, {
      method: 'POST',
      headers: { melonMsg: 'm' },
      body: 'x',
    });
    expect(res.status).toBe(200);
  }, 60_000);

  it('reserves a declared Content-Length before reading it, and counts a chunked body as it comes', async () => {
    const port = portOf(mesha.url);
    // Two bodies declared and not sent: their lengths are held at once, nothing else fits.
    const stalled: WatchedSocket[] = [];
    for (let i = 0; i < 2; i++) {
      const s = await openSocket(port);
      sockets.push(s.socket);
      stalled.push(s);
      s.socket.write(
        'POST /wasmCallback HTTP/1.1\r\nHost: 127.0.0.1\r\nmelonMsg: m\r\n' +
          `Content-Length: ${1024 * KiB}\r\n\r\n`,
      );
    }
    await waitFor(
      'both declared lengths held',
      async () => sumSamples(await mesha.metrics(), 'mesha_body_bytes_in_flight') === 2048 * KiB,
    );
    const chunked = await openSocket(port);
    sockets.push(chunked.socket);
    chunked.socket.write(
      'POST /wasmCallback HTTP/1.1\r\nHost: 127.0.0.1\r\nmelonMsg: m\r\n' +
        'Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
    );
    await waitFor('the chunked body answered', () => chunked.received() !== '');
    expect(chunked.received()).toMatch(/^HTTP\/1\.1 503/);
    // Closing the stalled clients releases what they held; a chunked body goes through again.
    for (const s of stalled) s.socket.destroy();
    await waitFor(
      'no body bytes in flight',
      async () => sumSamples(await mesha.metrics(), 'mesha_body_bytes_in_flight') === 0,
    );
    const again = await openSocket(port);
    sockets.push(again.socket);
    again.socket.write(
      'POST /wasmCallback HTTP/1.1\r\nHost: 127.0.0.1\r\nmelonMsg: m\r\n' +
        'Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
    );
    await waitFor('the second chunked body answered', () => again.received() !== '');
    expect(again.received()).toMatch(/^HTTP\/1\.1 200/);
  }, 60_000);
});

describe('mesha Expect: 100-continue', () => {
  let mesha: InProcessMesha;
  const token = 'correct-horse-battery-staple';
  beforeAll(async () => {
    mesha = await startInProcessMesha({ AUTH_TOKEN: token, BODY_LIMIT_BYTES: '64' });
  });
  afterAll(() => mesha.close());

  const ask = (headers: string) =>
    rawRequest(
      portOf(mesha.url),
      `POST /wasmCallback HTTP/1.1\r\nHost: 127.0.0.1\r\nmelonMsg: m\r\nExpect: 100-continue\r\n${headers}\r\n`,
    );

  it('refuses a wrong token with 401 before inviting the body', async () => {
    const res = await ask(
      `Authorization: Bearer wrong-token-wrong-token\r\nContent-Length: 10\r\n`,
    );
    expect(res.status).toBe(401);
    expect(JSON.parse(res.body)).toMatchObject({ statusCode: 401 });
  });

  it('refuses a declared body over BODY_LIMIT_BYTES with 413 before inviting it', async () => {
    const res = await ask(`Authorization: Bearer ${token}\r\nContent-Length: 65\r\n`);
    expect(res.status).toBe(413);
  });

  it('invites the body of an authorized request of an acceptable size', async () => {
    const res = await ask(`Authorization: Bearer ${token}\r\nContent-Length: 10\r\n`);
    expect(res.status).toBe(100);
  });
});
