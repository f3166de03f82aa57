import { Global, Module } from '@nestjs/common';
import { HttpMetrics } from './http-metrics';
import { MetricsController } from './metrics.controller';
import { MetricsService } from './metrics.service';

/** Global so that every feature module can create its (capped) metrics on the one registry. */
@Global()
@Module({
  controllers: [MetricsController],
  providers: [MetricsService, HttpMetrics],
  exports: [MetricsService, HttpMetrics],
})
export class MetricsModule {}
