import { ArgumentsHost, Catch, ExceptionFilter, Inject, Optional } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { PinoLogger } from 'nestjs-pino';
import { toErrorBody } from './error-body';

/** Told about every error answer, so a feature can count the rejections that concern it. */
export interface ErrorObserver {
  observe(request: FastifyRequest, statusCode: number, exception: unknown): void;
}

export const ERROR_OBSERVER = Symbol('ERROR_OBSERVER');

/** Every error, whoever raised it (Nest, Fastify, a handler), leaves as JSON {statusCode, error, message}. */
@Catch()
export class JsonErrorsFilter implements ExceptionFilter {
  constructor(
    private readonly logger: PinoLogger,
    @Optional() @Inject(ERROR_OBSERVER) private readonly observer?: ErrorObserver,
  ) {
    this.logger.setContext('HttpError');
  }

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    const body = toErrorBody(exception);
    this.observer?.observe(request, body.statusCode, exception);
    // 503s are overload refusals, already counted and logged (rate-limited) where they were made.
    if (body.statusCode >= 500 && body.statusCode !== 503) {
      this.logger.error(
        { err: exception, method: request.method, url: request.url },
        'request failed',
      );
    } else {
      this.logger.debug({ statusCode: body.statusCode, method: request.method }, body.message);
    }
    void reply.status(body.statusCode).type('application/json; charset=utf-8').send(body);
  }
}
