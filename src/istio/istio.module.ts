import { Module } from '@nestjs/common';
import { ReportsModule } from '../reports/reports.module';
import { IstioMetrics } from './istio.metrics';
import { IstioReports } from './istio-reports';

/** Istio's standard metrics (istio_*) from v2 reports: workload level, Istio's labels. */
@Module({
  imports: [ReportsModule],
  providers: [IstioMetrics, IstioReports],
})
export class IstioModule {}
