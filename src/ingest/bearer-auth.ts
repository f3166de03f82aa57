import { HttpStatus, Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Server } from 'node:http';
import type { AppConfig } from '../config/config.schema';
import { INGEST_ROUTE } from './ingest.controller';
import { ReportRejected } from './report-rejected.exception';

const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

/**
 * With AUTH_TOKEN set, requires `Authorization: Bearer <AUTH_TOKEN>`. Both sides are hashed first so
 * the comparison is constant-time whatever the lengths; the token itself is never logged.
 */
@Injectable()
export class BearerAuth {
  private readonly expected: Buffer | undefined;

  constructor(config: ConfigService<AppConfig, true>) {
    const token = config.get('AUTH_TOKEN', { infer: true });
    this.expected = token === undefined ? undefined : digest(token);
  }

  get enabled(): boolean {
    return this.expected !== undefined;
  }

  /** Throws a 401 ReportRejected unless `authorization` carries the expected Bearer token. */
  check(authorization: string | undefined): void {
    if (this.expected === undefined) return;
    const match = /^Bearer (.+)$/i.exec(authorization ?? '');
    if (match && timingSafeEqual(digest(match[1]), this.expected)) return;
    throw new ReportRejected(
      'unauthorized',
      authorization === undefined
        ? 'the Authorization header is required (Bearer token)'
        : 'the Authorization header does not carry the expected Bearer token',
      HttpStatus.UNAUTHORIZED,
    );
  }
}

/**
 * Checks the token on the ingest route in onRequest, before Fastify reads the body: a client
 * without the token gets its 401 without mesha buffering (or parsing) what it uploads.
 */
export function requireBearerToken(fastify: FastifyInstance, auth: BearerAuth): void {
  if (!auth.enabled) return;
  fastify.addHook('onRequest', (request, _reply, done) => {
    if (request.routeOptions.url !== INGEST_ROUTE) {
      done();
      return;
    }
    try {
      auth.check(request.headers.authorization);
      done();
    } catch (err) {
      done(err as Error);
    }
  });
}

/**
 * Answers `Expect: 100-continue` only to requests that will be read: Node would send `100 Continue`
 * to every client before any hook runs, inviting the body of a request that is about to get a 401
 * or a 413. Here the client gets 100 only if the token (on the ingest route) and the declared
 * Content-Length pass; otherwise it gets the refusal straight away and need not send its body.
 */
export function continueOnlyWhenAccepted(
  server: Server,
  auth: BearerAuth,
  bodyLimit: number,
): void {
  server.on('checkContinue', (request, response) => {
    const path = (request.url ?? '').split('?')[0];
    let accepted = Number(request.headers['content-length'] ?? 0) <= bodyLimit;
    if (accepted && auth.enabled && path === INGEST_ROUTE) {
      try {
        auth.check(request.headers.authorization);
      } catch {
        accepted = false;
      }
    }
    if (accepted) response.writeContinue();
    server.emit('request', request, response);
  });
}
