import { DynamicModule, Global, Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { AppConfig } from './app-config.js';

export interface AppConfigOptions {
  /** Values that win over process.env and .env (tests pass a whole environment here). */
  overrides?: Record<string, string | undefined>;
  /** Skip reading `.env` (tests). */
  ignoreEnvFile?: boolean;
}

/** Key under which the validated, typed configuration sits inside @nestjs/config. */
const APP_CONFIG_KEY = 'appConfig';

/**
 * `@nestjs/config` reads `.env` and process.env; the class-validator schema in env.validation.ts
 * validates them once, and the resulting typed `AppConfig` is what every module injects.
 * The validated result is an object (not strings), so @nestjs/config does not copy it back into
 * process.env: several apps booted in one test process cannot leak settings into each other.
 */
@Global()
@Module({})
export class AppConfigModule {
  static forRoot(options: AppConfigOptions = {}): DynamicModule {
    const overrides = options.overrides ?? {};
    return {
      module: AppConfigModule,
      imports: [
        ConfigModule.forRoot({
          ignoreEnvFile: options.ignoreEnvFile ?? false,
          cache: true,
          validate: (raw) => ({ [APP_CONFIG_KEY]: AppConfig.fromEnvironment({ ...raw, ...overrides }) }),
        }),
      ],
      providers: [
        {
          provide: AppConfig,
          inject: [ConfigService],
          useFactory: (config: ConfigService) => config.getOrThrow<AppConfig>(APP_CONFIG_KEY),
        },
      ],
      exports: [AppConfig],
    };
  }
}
