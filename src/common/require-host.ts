import { BadRequestException } from '@nestjs/common';
import type { FastifyInstance } from 'fastify';

/**
 * HTTP/1.1 requests must carry Host. Node refuses them itself with an empty 400 when its
 * requireHostHeader option is on; mesha turns that option off (see app.factory.ts) and refuses them
 * here instead, so the answer is the usual JSON error.
 */
export function requireHostHeader(fastify: FastifyInstance): void {
  fastify.addHook('onRequest', (request, _reply, done) => {
    if (request.raw.httpVersion === '1.1' && request.headers.host === undefined) {
      done(new BadRequestException('the Host header is required in HTTP/1.1'));
      return;
    }
    done();
  });
}
