import type { FastifyInstance } from 'fastify';

/** `type/subtype` made of RFC 9110 token characters, optionally followed by parameters. */
const MEDIA_TYPE = /^\s*[\w!#$%&'*+.^`|~-]+\/[\w!#$%&'*+.^`|~-]+\s*(?:;|$)/;

/**
 * Makes Fastify hand every request body over as a Buffer, whatever its Content-Type: none,
 * text/plain, * / *, anything. Without this Fastify answers 415 for types it has no parser for,
 * and for malformed ones (`foo`, `;;;`) even with a catch-all parser, so those are relabelled
 * application/octet-stream before parsing. Bodies larger than the adapter's bodyLimit get 413.
 */
export function acceptAnyContentType(fastify: FastifyInstance): void {
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) =>
    done(null, body),
  );
  fastify.addHook('onRequest', (request, _reply, done) => {
    const contentType = request.headers['content-type'];
    if (contentType !== undefined && !MEDIA_TYPE.test(contentType)) {
      request.headers['content-type'] = 'application/octet-stream';
    }
    done();
  });
}
