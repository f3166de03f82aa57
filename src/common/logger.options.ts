import type { Params } from 'nestjs-pino';
import type { DestinationStream, LoggerOptions } from 'pino';
import type { AppConfig } from '../config/config.schema';
import { bufferedStdout } from './log-destination';
import { pinoIsoTime } from './time-text';

/** pino options: one JSON line per event (ISO time with ms, level as text); pretty only when asked. */
export function pinoOptions(config: Pick<AppConfig, 'LOG_LEVEL' | 'LOG_FORMAT'>): LoggerOptions {
  return {
    level: config.LOG_LEVEL,
    timestamp: pinoIsoTime(),
    formatters: { level: (label) => ({ level: label }) },
    redact: { paths: ['req.headers.authorization', 'headers.authorization'], censor: '[redacted]' },
    ...(config.LOG_FORMAT === 'pretty'
      ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:standard' } } }
      : {}),
  };
}

/**
 * nestjs-pino wiring. Requests are not logged automatically (each accepted report already has its own
 * line) and the per-request logger middleware is bound to no route, keeping the hot path lean.
 * JSON lines go to `stream` (tests read them), else to stdout, buffered; pretty lines go through
 * pino-pretty's transport.
 */
export function loggerParams(config: AppConfig, stream?: DestinationStream): Params {
  const options = { ...pinoOptions(config), autoLogging: false, quietReqLogger: true };
  const sink = stream ?? (config.LOG_FORMAT === 'pretty' ? undefined : bufferedStdout());
  return {
    pinoHttp: sink ? [options, sink] : options,
    forRoutes: [],
  };
}
