import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Logger } from 'nestjs-pino';
import { AppModule } from './app.module';
import { acceptAnyContentType } from './common/any-content-type';
import type { DestinationStream } from 'pino';
import type { Clock } from './common/clock';
import { requireHostHeader } from './common/require-host';
import type { AppConfig } from './config/config.schema';
import { BearerAuth, requireBearerToken } from './ingest/bearer-auth';
import { HttpMetrics } from './metrics/http-metrics';

/**
 * Builds and initialises mesha (without listening), exactly as main.ts runs it; e2e tests use it too.
 */
export interface AppOptions {
  /** Time source; tests drive it by hand. */
  clock?: Clock;
  /** Where log lines go instead of stdout; tests read them. */
  logStream?: DestinationStream;
}

export async function createApp(
  config: AppConfig,
  options: AppOptions = {},
): Promise<NestFastifyApplication> {
  const adapter = new FastifyAdapter({
    bodyLimit: config.BODY_LIMIT_BYTES,
    // While closing, requests arriving on kept-alive connections get a 503 and `Connection: close`.
    return503OnClosing: true,
    // Bounds how long one request (headers and body) may take, against slow-sending clients.
    requestTimeout: 30_000,
    // Checked by requireHostHeader() instead, so that the refusal is a JSON error like any other.
    http: { requireHostHeader: false },
  });
  const app = await NestFactory.create<NestFastifyApplication>(
    AppModule.forRoot(config, options),
    adapter,
    { bufferLogs: true, bodyParser: false },
  );
  app.useLogger(app.get(Logger));
  app.flushLogs();

  const fastify = app.getHttpAdapter().getInstance();
  requireHostHeader(fastify);
  requireBearerToken(fastify, app.get(BearerAuth));
  acceptAnyContentType(fastify);
  fastify.addHook('onResponse', app.get(HttpMetrics).onResponse);

  await app.init();
  await fastify.ready();
  return app;
}
