import { HttpException } from '@nestjs/common';
import { STATUS_CODES } from 'node:http';

/** The one shape of every error mesha answers. */
export interface ErrorBody {
  statusCode: number;
  error: string;
  message: string;
}

/** Status and message of anything thrown: Nest's HttpExceptions and Fastify's own errors (413, 415, ...). */
export function toErrorBody(exception: unknown): ErrorBody {
  if (exception instanceof HttpException) {
    const statusCode = exception.getStatus();
    const response = exception.getResponse();
    const message =
      typeof response === 'string'
        ? response
        : messageOf((response as { message?: unknown }).message);
    return { statusCode, error: reasonPhrase(statusCode), message: message || exception.message };
  }
  const fastifyStatus = (exception as { statusCode?: unknown } | null)?.statusCode;
  // 4xx from Fastify (413, 415...), and the 503 of an overload refusal (see server-limits.ts).
  if (
    typeof fastifyStatus === 'number' &&
    ((fastifyStatus >= 400 && fastifyStatus < 500) || fastifyStatus === 503)
  ) {
    const message = exception instanceof Error ? exception.message : reasonPhrase(fastifyStatus);
    return { statusCode: fastifyStatus, error: reasonPhrase(fastifyStatus), message };
  }
  return { statusCode: 500, error: reasonPhrase(500), message: 'internal error' };
}

function messageOf(value: unknown): string {
  if (Array.isArray(value)) return value.map(String).join('; ');
  return typeof value === 'string' ? value : '';
}

function reasonPhrase(statusCode: number): string {
  return STATUS_CODES[statusCode] ?? 'Error';
}
