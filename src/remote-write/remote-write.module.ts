import { Module } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { AppConfig } from '../config/config.schema';
import { REMOTE_WRITE_OPTIONS, remoteWriteOptions } from './remote-write.options';
import { RemoteWriteService } from './remote-write.service';

/** Prometheus remote write of every metric (on when REMOTE_WRITE_URL is set). */
@Module({
  providers: [
    {
      provide: REMOTE_WRITE_OPTIONS,
      inject: [ConfigService],
      useFactory: (config: ConfigService<AppConfig, true>) =>
        remoteWriteOptions((name) => config.get(name, { infer: true })),
    },
    RemoteWriteService,
  ],
})
export class RemoteWriteModule {}
