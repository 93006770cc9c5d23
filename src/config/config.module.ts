import { DynamicModule, Global, Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { AppConfig } from './app-config.js';
import { loadConfigFromProcess } from './process-config.js';

export interface AppConfigOptions {
  /** An already validated configuration (createApp passes the one it built: validated once per boot). */
  config?: AppConfig;
  /** Values that win over process.env and .env (tests pass a whole environment here). */
  overrides?: Record<string, string | undefined>;
  /** Skip reading `.env` (tests). */
  ignoreEnvFile?: boolean;
}

/** Key under which the validated, typed configuration sits inside @nestjs/config. */
const APP_CONFIG_KEY = 'appConfig';

/**
 * Provides the typed `AppConfig` every module injects. createApp validates the environment once
 * (`.env`, then process.env, then overrides) and hands that one instance here; a module built
 * without it (a test importing AppModule directly) validates on its own, once. The values are
 * never copied back into process.env, so several apps booted in one process cannot leak
 * settings into each other. `@nestjs/config` carries that instance (its own `.env` reading is off:
 * `.env` was read once, with the rest, when the configuration was validated).
 */
@Global()
@Module({})
export class AppConfigModule {
  static forRoot(options: AppConfigOptions = {}): DynamicModule {
    const config = options.config ?? loadConfigFromProcess({ overrides: options.overrides, ignoreEnvFile: options.ignoreEnvFile });
    return {
      module: AppConfigModule,
      imports: [ConfigModule.forRoot({ ignoreEnvFile: true, load: [() => ({ [APP_CONFIG_KEY]: config })] })],
      providers: [
        {
          provide: AppConfig,
          inject: [ConfigService],
          useFactory: (configService: ConfigService) => configService.getOrThrow<AppConfig>(APP_CONFIG_KEY),
        },
      ],
      exports: [AppConfig],
    };
  }
}
