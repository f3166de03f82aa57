import { Module } from '@nestjs/common';
import { ReportsMetrics } from './reports.metrics';
import { ReportsService } from './reports.service';

/** Structured traffic reports (Content-Type: application/json on POST /wasmCallback). */
@Module({
  providers: [ReportsService, ReportsMetrics],
  exports: [ReportsService],
})
export class ReportsModule {}
