import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Logger } from 'nestjs-pino';
import { AppModule } from './app.module';
import type { Clock } from './common/clock';
import type { AppConfig } from './config/config.schema';
import { HttpMetrics } from './metrics/http-metrics';

/**
 * Builds and initialises mesha (without listening), exactly as main.ts runs it; e2e tests use it too.
 */
export async function createApp(config: AppConfig, clock?: Clock): Promise<NestFastifyApplication> {
  const adapter = new FastifyAdapter({
    bodyLimit: config.BODY_LIMIT_BYTES,
    // While closing, requests arriving on kept-alive connections get a 503 and `Connection: close`.
    return503OnClosing: true,
  });
  const app = await NestFactory.create<NestFastifyApplication>(
    AppModule.forRoot(config, clock),
    adapter,
    { bufferLogs: true, bodyParser: false },
  );
  app.useLogger(app.get(Logger));
  app.flushLogs();

  const fastify = app.getHttpAdapter().getInstance();
  // Every body is read as bytes whatever its Content-Type (none, text/plain, */*, anything):
  // without a catch-all parser Fastify would answer 415 to types it does not know.
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) =>
    done(null, body),
  );
  fastify.addHook('onResponse', app.get(HttpMetrics).onResponse);

  await app.init();
  await fastify.ready();
  return app;
}
