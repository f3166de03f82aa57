/**
 * The bench's floor: Fastify answering the seed's acknowledgement without doing anything else (no
 * parsing, logging or metrics). Env: PORT, HOST.
 */
import Fastify from 'fastify';

const app = Fastify({ logger: false });
app.removeAllContentTypeParsers();
app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
app.post('/wasmCallback', (_request, reply) => {
  void reply.type('text/plain; charset=utf-8').send('receive wasm callback request status ok');
});
app.get('/readyz', () => ({ status: 'ready' }));
app
  .listen({ port: Number(process.env.PORT ?? 0), host: process.env.HOST ?? '127.0.0.1' })
  .catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
