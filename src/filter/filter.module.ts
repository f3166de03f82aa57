import { Module, NotFoundException, type OnModuleInit } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { InjectPinoLogger, PinoLogger } from 'nestjs-pino';
import { resolve } from 'node:path';
import { toErrorBody } from '../common/error-body';
import type { AppConfig } from '../config/config.schema';
import { loadFilterArtifact, matchesEtag, type FilterArtifact } from './filter-artifact';
import { ServedFilter } from './served-filter';

/**
 * Serves the built reporter (replacing the seed's http-server): GET/HEAD FILTER_ROUTE (default /filter.wasm)
 * with its sha256 as ETag, and FILTER_ROUTE + '.sha256' with the bare hex digest. The file is read and hashed
 * once at start-up, so what is served always matches its announced sha256; a new build needs a restart (in
 * Kubernetes, a new image). FILTER_ROUTE=off turns both routes off.
 */
@Module({ providers: [ServedFilter], exports: [ServedFilter] })
export class FilterModule implements OnModuleInit {
  constructor(
    private readonly served: ServedFilter,
    private readonly adapterHost: HttpAdapterHost,
    private readonly config: ConfigService<AppConfig, true>,
    @InjectPinoLogger('FilterModule') private readonly logger: PinoLogger,
  ) {}

  async onModuleInit(): Promise<void> {
    const route = this.config.get('FILTER_ROUTE', { infer: true });
    if (route === 'off') return;
    const configuredPath = this.config.get('FILTER_WASM_PATH', { infer: true });
    const artifact = await loadFilterArtifact(resolve(configuredPath));
    this.served.route = route;
    this.served.artifact = artifact;
    if (artifact.available) {
      this.logger.info(
        { route, sha256: artifact.sha256, bytes: artifact.bytes.length },
        'serving filter.wasm',
      );
    } else {
      this.logger.warn(
        { route, reason: artifact.reason, path: artifact.path },
        'filter.wasm not available: its routes answer 404',
      );
    }
    const fastify = this.adapterHost.httpAdapter.getInstance<FastifyInstance>();
    // GET routes answer HEAD too (Fastify's exposeHeadRoutes): same headers, no body.
    try {
      fastify.get(route, (request, reply) => this.sendWasm(artifact, request, reply));
      fastify.get(`${route}.sha256`, (_request, reply) => this.sendSha(artifact, reply));
    } catch (err) {
      throw new Error(`FILTER_ROUTE ${route} cannot be served: ${(err as Error).message}`);
    }
  }

  private sendWasm(
    artifact: FilterArtifact,
    request: FastifyRequest,
    reply: FastifyReply,
  ): FastifyReply {
    if (!artifact.available) return this.notFound(artifact.reason, reply);
    reply
      .header('etag', artifact.etag)
      // Clients may keep it but must revalidate: a 304 costs nothing, and a new build is seen at once.
      .header('cache-control', 'no-cache')
      .header('x-content-type-options', 'nosniff');
    if (matchesEtag(request.headers['if-none-match'], artifact.etag)) return reply.code(304).send();
    return reply
      .type('application/wasm')
      .header('content-length', artifact.bytes.length)
      .send(artifact.bytes);
  }

  private sendSha(artifact: FilterArtifact, reply: FastifyReply): FastifyReply {
    if (!artifact.available) return this.notFound(artifact.reason, reply);
    return reply
      .type('text/plain; charset=utf-8')
      .header('cache-control', 'no-cache')
      .send(`${artifact.sha256}\n`);
  }

  private notFound(reason: string, reply: FastifyReply): FastifyReply {
    const body = toErrorBody(new NotFoundException(`filter.wasm is not available: ${reason}`));
    return reply.code(404).type('application/json; charset=utf-8').send(body);
  }
}
