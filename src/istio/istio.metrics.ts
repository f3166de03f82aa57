import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { AppConfig } from '../config/config.schema';
import type { CappedCounter } from '../metrics/capped-metrics';
import { MetricsService } from '../metrics/metrics.service';
import { BucketHistogram } from '../reports/bucket-histogram';
import {
  ENVOY_BUCKETS,
  ISTIO_LABELS,
  ISTIO_TCP_LABELS,
  type IstioLabel,
  type ReportV2,
} from './report-v2.types';

type Labels = Partial<Record<IstioLabel, string>>;

/**
 * Istio's standard HTTP and TCP families with Istio's names, types, units and labels, at workload level:
 * the reporting pod is never a label, so the reports of N pods add into one series per label set.
 * Labels listed in ISTIO_TAGS_TO_REMOVE (Istio's tags_to_remove) are left out, and what differed
 * only in them adds up. Every family goes through MetricsService's series budget and TTL.
 */
@Injectable()
export class IstioMetrics {
  readonly labelNames: readonly IstioLabel[];
  readonly tcpLabelNames: readonly IstioLabel[];
  private readonly requests: CappedCounter<IstioLabel>;
  private readonly duration: BucketHistogram<IstioLabel>;
  private readonly requestBytes: BucketHistogram<IstioLabel>;
  private readonly responseBytes: BucketHistogram<IstioLabel>;
  private readonly tcpOpened: CappedCounter<IstioLabel>;
  private readonly tcpClosed: CappedCounter<IstioLabel>;
  private readonly tcpReceived: CappedCounter<IstioLabel>;
  private readonly tcpSent: CappedCounter<IstioLabel>;

  constructor(
    private readonly metrics: MetricsService,
    config: ConfigService<AppConfig, true>,
  ) {
    const removed = new Set<string>(config.get('ISTIO_TAGS_TO_REMOVE', { infer: true }));
    this.labelNames = ISTIO_LABELS.filter((name) => !removed.has(name));
    this.requests = metrics.counter(
      'istio_requests_total',
      'Requests, as Istio counts them (reported by the sidecars, aggregated per workload)',
      this.labelNames,
    );
    this.duration = this.histogram(
      'istio_request_duration_milliseconds',
      'Request duration in milliseconds, as Istio measures it',
    );
    this.requestBytes = this.histogram(
      'istio_request_bytes',
      'Request size in bytes (headers and body, as on the wire)',
    );
    this.responseBytes = this.histogram(
      'istio_response_bytes',
      'Response size in bytes (headers and body, as on the wire)',
    );
    this.tcpLabelNames = ISTIO_TCP_LABELS.filter((name) => !removed.has(name));
    const tcp = (name: string, help: string) => metrics.counter(name, help, this.tcpLabelNames);
    this.tcpOpened = tcp(
      'istio_tcp_connections_opened_total',
      'TCP connections opened, as Istio counts them (reported by the sidecars, per workload)',
    );
    this.tcpClosed = tcp(
      'istio_tcp_connections_closed_total',
      'TCP connections closed, as Istio counts them (reported by the sidecars, per workload)',
    );
    this.tcpReceived = tcp(
      'istio_tcp_received_bytes_total',
      'Bytes a TCP connection received from its client (during the request)',
    );
    this.tcpSent = tcp(
      'istio_tcp_sent_bytes_total',
      'Bytes a TCP connection sent to its client (during the response)',
    );
  }

  private histogram(name: string, help: string): BucketHistogram<IstioLabel> {
    const h = new BucketHistogram(name, help, this.labelNames, ENVOY_BUCKETS);
    h.guardedBy(this.metrics.guard(name, this.labelNames, (labels) => h.remove(labels)));
    this.metrics.register(h);
    return h;
  }

  /** Adds every entry of a checked report. */
  applied(report: ReportV2): void {
    for (const entry of report.http) {
      const labels: Labels = {};
      for (const [i, name] of ISTIO_LABELS.entries()) labels[name] = report.strings[entry.d[i]];
      const kept = this.keep(labels);
      this.requests.inc(kept, entry.n);
      this.duration.add(kept, entry.duration_ms, entry.duration_sum_ms);
      this.requestBytes.add(kept, entry.request_bytes, entry.request_bytes_sum);
      this.responseBytes.add(kept, entry.response_bytes, entry.response_bytes_sum);
    }
    for (const entry of report.tcp ?? []) {
      const labels: Labels = {};
      for (const [i, name] of ISTIO_TCP_LABELS.entries()) labels[name] = report.strings[entry.d[i]];
      const kept = this.keep(labels, this.tcpLabelNames);
      // A zero adds nothing but would still claim a series of the budget.
      if (entry.opened > 0) this.tcpOpened.inc(kept, entry.opened);
      if (entry.closed > 0) this.tcpClosed.inc(kept, entry.closed);
      if (entry.received_bytes > 0) this.tcpReceived.inc(kept, entry.received_bytes);
      if (entry.sent_bytes > 0) this.tcpSent.inc(kept, entry.sent_bytes);
    }
  }

  private keep(labels: Labels, names = this.labelNames): Record<IstioLabel, string> {
    const out = Object.create(null) as Record<IstioLabel, string>;
    for (const name of names) out[name] = labels[name] ?? '';
    return out;
  }
}
