import { DynamicModule, Module } from '@nestjs/common';
import type { AppConfig } from '../config/config.schema';
import { FilterModule } from '../filter/filter.module';
import { ReportsModule } from '../reports/reports.module';
import { StatusController } from './status.controller';
import { StatusService } from './status.service';

/** GET / (HTML) and GET /api/v1/status (JSON); with STATUS_PAGE=off neither route exists. */
@Module({})
export class StatusModule {
  static forRoot(config: AppConfig): DynamicModule {
    const enabled = config.STATUS_PAGE === 'on';
    return {
      module: StatusModule,
      imports: [ReportsModule, FilterModule],
      controllers: enabled ? [StatusController] : [],
      providers: enabled ? [StatusService] : [],
    };
  }
}
