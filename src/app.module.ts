import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { LoggerModule } from 'nestjs-pino';
import type { DestinationStream } from 'pino';
import { systemClock, type Clock } from './common/clock';
import { ClockModule } from './common/clock.module';
import { JsonErrorsFilter } from './common/json-errors.filter';
import { loggerParams } from './common/logger.options';
import { AppConfigModule } from './config/config.module';
import type { AppConfig } from './config/config.schema';
import { FilterModule } from './filter/filter.module';
import { HealthModule } from './health/health.module';
import { IngestModule } from './ingest/ingest.module';
import { IstioModule } from './istio/istio.module';
import { MetricsModule } from './metrics/metrics.module';
import { StatusModule } from './status/status.module';
import { RemoteWriteModule } from './remote-write/remote-write.module';
import { StateModule } from './state/state.module';

@Module({})
export class AppModule {
  /** `config` is the result of parseConfig(); tests may hand in a clock they drive and a log sink. */
  static forRoot(
    config: AppConfig,
    { clock = systemClock, logStream }: { clock?: Clock; logStream?: DestinationStream } = {},
  ): DynamicModule {
    return {
      module: AppModule,
      imports: [
        AppConfigModule.forRoot(config),
        ClockModule.forRoot(clock),
        LoggerModule.forRoot(loggerParams(config, logStream)),
        MetricsModule,
        HealthModule,
        IngestModule,
        FilterModule,
        StatusModule.forRoot(config),
        RemoteWriteModule,
        StateModule,
        IstioModule,
      ],
      providers: [{ provide: APP_FILTER, useClass: JsonErrorsFilter }],
    };
  }
}
