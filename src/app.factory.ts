import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Logger, PinoLogger } from 'nestjs-pino';
import { AppModule } from './app.module';
import { acceptAnyContentType } from './common/any-content-type';
import type { DestinationStream } from 'pino';
import type { Clock } from './common/clock';
import { requireHostHeader } from './common/require-host';
import type { AppConfig } from './config/config.schema';
import { effectiveMaxConnections } from './common/fd-limit';
import { ServerLimits } from './common/server-limits';
import { BearerAuth, continueOnlyWhenAccepted, requireBearerToken } from './ingest/bearer-auth';
import { HttpMetrics } from './metrics/http-metrics';
import { memorySettings } from './metrics/memory-budget';
import { MetricsService } from './metrics/metrics.service';

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
  const memory = memorySettings({
    limitBytes: config.MEMORY_LIMIT_BYTES,
    budgetBytes: config.MEMORY_BUDGET_BYTES,
  });
  const limits = new ServerLimits({
    maxConnections: effectiveMaxConnections(config.MAX_CONNECTIONS),
    maxBodyBytesInFlight:
      config.MAX_BODY_BYTES_IN_FLIGHT ??
      Math.max(config.BODY_LIMIT_BYTES, Math.floor(memory.limitBytes / 16)),
  });
  const adapter = new FastifyAdapter({
    bodyLimit: config.BODY_LIMIT_BYTES,
    // While closing, requests arriving on kept-alive connections get a 503 and `Connection: close`.
    return503OnClosing: true,
    // Bounds how long one request (headers and body) may take, against slow-sending clients.
    requestTimeout: config.REQUEST_TIMEOUT_MS,
    // Idle kept-alive connections are closed after this (they hold a descriptor each).
    keepAliveTimeout: config.KEEP_ALIVE_TIMEOUT_MS,
    clientErrorHandler: limits.clientErrorHandler,
    http: {
      // Checked by requireHostHeader() instead, so that the refusal is a JSON error like any other.
      requireHostHeader: false,
      // Node requires headersTimeout <= requestTimeout; a connection that sends nothing is closed
      // after headersTimeout too. Checked every second (Node's default is 30 s).
      headersTimeout: Math.min(config.HEADERS_TIMEOUT_MS, config.REQUEST_TIMEOUT_MS),
      connectionsCheckingInterval: 1000,
    },
  });
  const app = await NestFactory.create<NestFastifyApplication>(
    AppModule.forRoot(config, options),
    adapter,
    { bufferLogs: true, bodyParser: false },
  );
  app.useLogger(app.get(Logger));
  app.flushLogs();

  const fastify = app.getHttpAdapter().getInstance();
  // PinoLogger.root is the application's pino logger once the logger module has started.
  limits.register(app.get(MetricsService).registry, () => PinoLogger.root);
  limits.attach(fastify.server);
  limits.limitBodies(fastify);
  continueOnlyWhenAccepted(fastify.server, app.get(BearerAuth), config.BODY_LIMIT_BYTES);
  requireHostHeader(fastify);
  requireBearerToken(fastify, app.get(BearerAuth));
  acceptAnyContentType(fastify);
  fastify.addHook('onResponse', app.get(HttpMetrics).onResponse);

  await app.init();
  await fastify.ready();
  // One line saying which limits this process runs with (and where the memory limit came from).
  PinoLogger.root.info(
    {
      memoryLimitBytes: memory.limitBytes,
      memoryLimitFrom: memory.limitSource,
      seriesBudgetBytes: memory.budgetBytes,
      maxConnections: limits.settings.maxConnections,
      maxBodyBytesInFlight: limits.settings.maxBodyBytesInFlight,
    },
    'limits',
  );

  return app;
}
