/**
 * The bench's second floor: the same no-op answer as noop-server.ts, through a NestJS controller on
 * @nestjs/platform-fastify, set up as mesha's (bodies read as Buffers, no Nest body parser). What
 * mesha costs beyond this is its own work; what this costs beyond noop-server.ts is Nest's routing.
 * Env: PORT, HOST.
 */
import 'reflect-metadata';
import { Controller, Get, Header, HttpCode, Module, Post, Req } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyRequest } from 'fastify';

@Controller()
class NoopController {
  @Post('/wasmCallback')
  @HttpCode(200)
  @Header('Content-Type', 'text/plain; charset=utf-8')
  receive(@Req() request: FastifyRequest): string {
    return Buffer.isBuffer(request.body) ? 'receive wasm callback request status ok' : 'no body';
  }

  @Get('/readyz')
  ready(): { status: string } {
    return { status: 'ready' };
  }
}

@Module({ controllers: [NoopController] })
class NoopModule {}

async function main(): Promise<void> {
  const app = await NestFactory.create<NestFastifyApplication>(NoopModule, new FastifyAdapter(), {
    bodyParser: false,
    logger: false,
  });
  const fastify = app.getHttpAdapter().getInstance();
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) =>
    done(null, body),
  );
  await app.listen(Number(process.env.PORT ?? 0), process.env.HOST ?? '127.0.0.1');
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
