import { hostTracker, messages } from './support/hosts';
import { bodyPlugin } from './support/body-plugin';

const hosts = hostTracker();
afterEach(() => hosts.closeAll());

let wasm: Uint8Array;
beforeAll(async () => {
  wasm = await bodyPlugin();
});

const text = (chunks: Buffer[] | undefined) => (chunks ?? []).map((c) => c.toString());

describe('streamed bodies', () => {
  it('Continue: one body callback per chunk with that chunk size; the chunks go on as they came', async () => {
    const host = await hosts.start({ wasm, concurrency: 1 });
    const result = await host.runStream(
      { method: 'POST', path: '/', headers: [['x-mode', 'c']], body: ['aa', 'bbb', 'c'] },
      async () => ({ status: 200, body: ['x', 'yy'] }),
    );
    expect(text(result.forwarded?.bodyChunks)).toEqual(['aa', 'bbb', 'c']);
    expect(text(result.bodyChunks)).toEqual(['x', 'yy']);
    expect(messages(host)).toEqual([
      ...['req 2', 'eos 0', 'req 3', 'eos 0', 'req 1', 'eos 1', 'c'],
      ...['resp 1', 'eos 0', 'resp 2', 'eos 1', 'yy'],
    ]);
    // No chunk was held, so the forwarded request has no content-length to fix (it was chunked).
    expect(result.forwarded?.headers.some(([k]) => k === 'content-length')).toBe(false);
    expect(host.metrics().get('request_chunks')).toBe(3);
  });

  it('StopIterationAndBuffer: body_size grows with each chunk, the plugin reads the whole body at end_of_stream, one piece goes on', async () => {
    const host = await hosts.start({ wasm, concurrency: 1 });
    const result = await host.runStream(
      { method: 'POST', path: '/', headers: [['x-mode', 'b']], body: ['aa', 'bbb', 'c'] },
      { status: 200, body: ['x', 'yy'] },
    );
    expect(text(result.forwarded?.bodyChunks)).toEqual(['aabbbc']);
    expect(text(result.bodyChunks)).toEqual(['xyy#']);
    expect(messages(host)).toEqual([
      ...['req 2', 'eos 0', 'req 5', 'eos 0', 'req 6', 'eos 1', 'aabbbc'],
      ...['resp 1', 'eos 0', 'resp 3', 'eos 1', 'xyy'],
    ]);
    // The changed response is re-framed with its complete length.
    expect(result.headers).toContainEqual(['content-length', '4']);
  });

  it('StopIterationNoBuffer: the chunks the plugin stopped are dropped', async () => {
    const host = await hosts.start({ wasm, concurrency: 1 });
    const result = await host.runStream(
      { method: 'POST', path: '/', headers: [['x-mode', 'n']], body: ['aa', 'bbb', 'c'] },
      { status: 200 },
    );
    expect(text(result.forwarded?.bodyChunks)).toEqual(['c']);
    expect(messages(host).slice(0, 6)).toEqual([
      'req 2',
      'eos 0',
      'req 3',
      'eos 0',
      'req 1',
      'eos 1',
    ]);
  });

  it('a whole body arrives in one callback with end_of_stream and keeps its content-length', async () => {
    const host = await hosts.start({ wasm, concurrency: 1 });
    const result = await host.runStream(
      { method: 'POST', path: '/', headers: [['x-mode', 'c']], body: 'whole' },
      { status: 204 },
    );
    expect(messages(host).slice(0, 3)).toEqual(['req 5', 'eos 1', 'whole']);
    expect(result.forwarded?.headers).toContainEqual(['content-length', '5']);
    expect(result.status).toBe(204);
  });

  it('answers 413 when the plugin buffers more than the buffer limit; the upstream is not called', async () => {
    const host = await hosts.start({ wasm, concurrency: 1, bufferLimitBytes: 20 });
    const upstream = jest.fn(async () => ({ status: 200 }));
    const result = await host.runStream(
      {
        method: 'POST',
        path: '/',
        headers: [['x-mode', 'b']],
        body: ['a'.repeat(10), 'b'.repeat(11), 'c'],
      },
      upstream,
    );
    expect(result.status).toBe(413);
    expect(result.localReply).toBe(true);
    // The local reply passes the response callbacks, as Envoy's encoder filters see it (mode b adds "#").
    expect(result.body.toString()).toBe('Payload Too Large#');
    expect(upstream).not.toHaveBeenCalled();
  });

  it('lets a plugin grow a body only up to the buffer limit', async () => {
    const host = await hosts.start({ wasm, concurrency: 1, bufferLimitBytes: 3 });
    const result = await host.runStream(
      { method: 'GET', path: '/', headers: [['x-mode', 'b']] },
      { status: 200, body: 'xyz' },
    );
    // Appending "#" would make 4 bytes: proxy_set_buffer_bytes answers BAD_ARGUMENT, the body stays.
    expect(result.body.toString()).toBe('xyz');
  });

  it('answers 500 when the plugin buffers a response past the limit', async () => {
    const host = await hosts.start({ wasm, concurrency: 1, bufferLimitBytes: 4 });
    const result = await host.runStream(
      { method: 'GET', path: '/', headers: [['x-mode', 'b']] },
      { status: 200, body: ['xxx', 'yyy', 'z'] },
    );
    expect(result.status).toBe(500);
    expect(result.body.toString()).toBe('Internal Server Error');
  });

  it('streams bodies far larger than the buffer limit when the plugin does not buffer them', async () => {
    const host = await hosts.start({ wasm, concurrency: 1, bufferLimitBytes: 1024 });
    const chunk = Buffer.alloc(1000, 'a');
    const result = await host.runStream(
      { method: 'POST', path: '/', headers: [['x-mode', 'c']], body: Array(50).fill(chunk) },
      async (req) => ({ status: 200, body: req.bodyChunks }),
    );
    expect(result.status).toBe(200);
    expect(result.body.length).toBe(50_000);
    expect(host.metrics().get('response_chunks')).toBe(50);
  });

  it('paused request headers: body callbacks still run; the body Continue at end_of_stream sends headers and body on', async () => {
    const host = await hosts.start({ wasm, concurrency: 1 });
    const result = await host.runStream(
      { method: 'POST', path: '/', headers: [['x-mode', 'h']], body: ['aa', 'bbb', 'c'] },
      { status: 200 },
    );
    expect(messages(host).slice(0, 7)).toEqual([
      'req 2',
      'eos 0',
      'req 5',
      'eos 0',
      'req 6',
      'eos 1',
      'aabbbc',
    ]);
    expect(text(result.forwarded?.bodyChunks)).toEqual(['aabbbc']);
    expect(result.status).toBe(200);
  });

  it("paused request headers: a body callback answering Continue resumes the stream (Envoy's filter manager)", async () => {
    const host = await hosts.start({ wasm, concurrency: 1 });
    const result = await host.runStream(
      { method: 'POST', path: '/', headers: [['x-mode', 'H']], body: ['aa', 'bbb'] },
      { status: 200 },
    );
    expect(text(result.forwarded?.bodyChunks)).toEqual(['aa', 'bbb']);
    expect(result.status).toBe(200);
  });
});
