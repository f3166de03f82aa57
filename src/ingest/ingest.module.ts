import { Module } from '@nestjs/common';
import { ERROR_OBSERVER } from '../common/json-errors.filter';
import { ReportsModule } from '../reports/reports.module';
import { BearerAuth } from './bearer-auth';
import { IngestController } from './ingest.controller';
import { IngestMetrics } from './ingest.metrics';
import { IngestService } from './ingest.service';
import { RejectionObserver } from './rejection-observer';
import { ReportLog } from './report-log';

@Module({
  imports: [ReportsModule],
  controllers: [IngestController],
  providers: [
    IngestService,
    IngestMetrics,
    ReportLog,
    BearerAuth,
    { provide: ERROR_OBSERVER, useClass: RejectionObserver },
  ],
  exports: [IngestService, IngestMetrics, ReportLog, BearerAuth, ERROR_OBSERVER],
})
export class IngestModule {}
