import { CanActivate, ExecutionContext, HttpStatus, Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { AppConfig } from '../config/config.schema';
import { ReportRejected } from './report-rejected.exception';

const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

/**
 * With AUTH_TOKEN set, requires `Authorization: Bearer <AUTH_TOKEN>`. Both sides are hashed first so
 * the comparison is constant-time whatever the lengths; the token itself is never logged.
 */
@Injectable()
export class BearerAuthGuard implements CanActivate {
  private readonly expected: Buffer | undefined;

  constructor(config: ConfigService<AppConfig, true>) {
    const token = config.get('AUTH_TOKEN', { infer: true });
    this.expected = token === undefined ? undefined : digest(token);
  }

  canActivate(context: ExecutionContext): boolean {
    if (this.expected === undefined) return true;
    const header = context.switchToHttp().getRequest<FastifyRequest>().headers.authorization;
    const match = /^Bearer (.+)$/i.exec(header ?? '');
    if (match && timingSafeEqual(digest(match[1]), this.expected)) return true;
    throw new ReportRejected(
      'unauthorized',
      header === undefined
        ? 'the Authorization header is required (Bearer token)'
        : 'the Authorization header does not carry the expected Bearer token',
      HttpStatus.UNAUTHORIZED,
    );
  }
}
