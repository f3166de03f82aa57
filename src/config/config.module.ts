import { DynamicModule, Module } from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';
import type { AppConfig } from './config.schema';

/**
 * Makes the already-validated settings available everywhere through ConfigService<AppConfig, true>.
 * Validation happens once, in parseConfig(), before the application is created.
 */
@Module({})
export class AppConfigModule {
  static forRoot(config: AppConfig): Promise<DynamicModule> {
    return ConfigModule.forRoot({
      isGlobal: true,
      ignoreEnvFile: true,
      skipProcessEnv: true,
      load: [() => config],
    });
  }
}
