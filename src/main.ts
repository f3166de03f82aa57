import 'reflect-metadata';
import { PinoLogger } from 'nestjs-pino';
import { createApp } from './app.factory';
import { ConfigError, parseConfig, type AppConfig } from './config/config.schema';
import { installGracefulShutdown } from './health/graceful-shutdown';

function loadConfigOrExit(): AppConfig {
  try {
    return parseConfig(process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`mesha: ${err.message}\n`);
    process.exit(1);
  }
}

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const app = await createApp(config);
  installGracefulShutdown(
    app,
    { delayMs: config.SHUTDOWN_DELAY_MS, graceMs: config.SHUTDOWN_GRACE_MS },
    PinoLogger.root,
  );
  try {
    await app.listen(config.PORT, config.HOST);
  } catch (err) {
    // A name that does not resolve, an address not on this machine, a port in use: one line naming
    // the settings, no stack trace.
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    process.stderr.write(
      `mesha: cannot listen on HOST=${config.HOST} PORT=${config.PORT}: ${code} (${(err as Error).message})\n`,
    );
    process.exit(1);
  }
  PinoLogger.root.info({ host: config.HOST, port: config.PORT }, 'mesha listening');
  PinoLogger.root.flush(); // the start-up lines (limits, warnings) at once, not with the first reports
}

main().catch((err: unknown) => {
  process.stderr.write(
    `mesha: failed to start: ${err instanceof Error ? err.stack : String(err)}\n`,
  );
  process.exit(1);
});
