import type { INestApplication } from '@nestjs/common';
import type { Logger } from 'pino';
import { ShutdownState } from './shutdown-state';

export interface ShutdownTiming {
  /** Readiness fails this long before the listener closes. */
  delayMs: number;
  /** Hard bound on the whole shutdown. */
  graceMs: number;
}

/**
 * On SIGTERM/SIGINT: readiness turns 503 at once; after `delayMs` the server stops accepting
 * connections and lets in-flight requests finish (each accepted report's log line is in the log
 * buffer before its 200 is sent, and the buffer is written on exit); then the process exits 0.
 * Past `graceMs` it exits 1 regardless.
 */
export function installGracefulShutdown(
  app: INestApplication,
  timing: ShutdownTiming,
  logger: Logger,
): void {
  let started = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (started) return;
    started = true;
    app.get(ShutdownState).begin();
    logger.info({ signal, ...timing }, 'shutdown started: readiness now 503');
    const deadline = setTimeout(() => {
      logger.error(
        { graceMs: timing.graceMs },
        'shutdown grace period over: exiting with requests open',
      );
      logger.flush();
      process.exit(1);
    }, timing.graceMs);
    deadline.unref();
    void (async () => {
      await new Promise((resolve) => setTimeout(resolve, timing.delayMs));
      await app.close();
      logger.info('shutdown complete: every in-flight request finished');
      logger.flush();
      process.exit(0);
    })().catch((err: unknown) => {
      logger.error({ err }, 'shutdown failed');
      logger.flush();
      process.exit(1);
    });
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
