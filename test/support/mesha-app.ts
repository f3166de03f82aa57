import { Writable } from 'node:stream';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createApp } from '../../src/app.factory';
import type { Clock } from '../../src/common/clock';
import { parseConfig } from '../../src/config/config.schema';
import { parsePrometheusText, type Sample } from './prometheus-text';

/** A hand-driven clock for tests. */
export class ManualClock implements Clock {
  constructor(private ms = Date.UTC(2026, 0, 2, 3, 4, 5, 678)) {}
  now(): number {
    return this.ms;
  }
  advance(ms: number): void {
    this.ms += ms;
  }
}

export interface InProcessMesha {
  app: NestFastifyApplication;
  /** Base URL of the server, listening on a free loopback port (for supertest and fetch). */
  url: string;
  /** JSON log lines written so far. */
  logs: Array<Record<string, unknown>>;
  metrics(accept?: string): Promise<Sample[]>;
  close(): Promise<void>;
}

/**
 * mesha built in this process exactly as main.ts builds it (same factory), with settings from `env`
 * on top of the defaults, logs captured as parsed JSON lines, and an optional manual clock.
 */
export async function startInProcessMesha(
  env: Record<string, string> = {},
  clock?: Clock,
): Promise<InProcessMesha> {
  const logs: Array<Record<string, unknown>> = [];
  const logStream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() !== '') logs.push(JSON.parse(line) as Record<string, unknown>);
      }
      callback();
    },
  });
  const config = parseConfig({ HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', ...env });
  const app = await createApp(config, { clock, logStream });
  await app.listen(0, '127.0.0.1');
  const address = app.getHttpServer().address();
  if (address === null || typeof address === 'string') throw new Error('no port assigned');
  return {
    app,
    url: `http://127.0.0.1:${address.port}`,
    logs,
    async metrics(accept?: string) {
      const res = await app.inject({
        method: 'GET',
        url: '/metrics',
        headers: accept ? { accept } : {},
      });
      return parsePrometheusText(res.body);
    },
    close: () => app.close(),
  };
}
