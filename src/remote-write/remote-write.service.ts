import {
  Inject,
  Injectable,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { InjectPinoLogger, PinoLogger } from 'nestjs-pino';
import { CLOCK, type Clock } from '../common/clock';
import { MetricsService } from '../metrics/metrics.service';
import { HttpPoster } from './http-post';
import { RemoteWriteMetrics } from './remote-write.metrics';
import { REMOTE_WRITE_OPTIONS, type RemoteWriteOptions } from './remote-write.options';
import { RemoteWriter, type Sleep } from './remote-writer';
import { snapshotSeries } from './snapshot';

const sleep: Sleep = (ms, wake) =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    timer.unref();
    wake.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });

/**
 * Remote write, when REMOTE_WRITE_URL is set: a snapshot of the registry every interval, sent by a
 * RemoteWriter; after SIGTERM, once the listener has closed (every acknowledged report counted), a
 * last snapshot and a final flush that ends within the shutdown grace.
 */
@Injectable()
export class RemoteWriteService
  implements OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown
{
  private readonly writer: RemoteWriter | undefined;
  private readonly poster: HttpPoster | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closingSinceMs: number | undefined;

  constructor(
    @Inject(REMOTE_WRITE_OPTIONS) private readonly options: RemoteWriteOptions | undefined,
    metrics: MetricsService,
    @Inject(CLOCK) private readonly clock: Clock,
    @InjectPinoLogger('RemoteWrite') private readonly logger: PinoLogger,
  ) {
    if (!options) return;
    const poster = new HttpPoster(options.target);
    const writer: RemoteWriter = new RemoteWriter(options.writer, {
      collect: () => snapshotSeries(metrics.registry, options.labels),
      post: (body, timeoutMs) => poster.post(body, timeoutMs),
      clock,
      sleep,
      observer: new RemoteWriteMetrics(metrics.registry, () => writer.queuedSamples),
      log: { warn: (fields, message) => logger.warn(fields, message) },
    });
    this.poster = poster;
    this.writer = writer;
  }

  onApplicationBootstrap(): void {
    const { options, writer } = this;
    if (!options || !writer) return;
    const { url } = options.target;
    this.logger.info(
      {
        url: `${url.origin}${url.pathname}`, // no query string: it may carry a key
        intervalMs: options.intervalMs,
        labels: Object.fromEntries(options.labels.map(({ name, value }) => [name, value])),
      },
      'remote write on',
    );
    this.timer = setInterval(() => void this.snapshot(writer), options.intervalMs);
    this.timer.unref();
  }

  beforeApplicationShutdown(): void {
    clearInterval(this.timer);
    this.closingSinceMs ??= this.clock.now();
  }

  /** Runs after the HTTP server has closed: the final snapshot holds every acknowledged report. */
  async onApplicationShutdown(): Promise<void> {
    const { options, writer } = this;
    if (!options || !writer) return;
    const since = this.closingSinceMs ?? this.clock.now();
    const deadline = since + options.graceMs - options.delayMs - options.flushMarginMs;
    const queuedBefore = writer.queuedSamples;
    await writer.flush(deadline);
    this.poster?.close();
    this.logger.info(
      { queuedBefore, waitedMs: this.clock.now() - since },
      'remote write: final flush done',
    );
  }

  private async snapshot(writer: RemoteWriter): Promise<void> {
    try {
      await writer.snapshot();
    } catch (err) {
      this.logger.error({ err }, 'remote write: snapshot failed');
    }
  }
}
