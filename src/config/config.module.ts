import { DynamicModule, Global, Module } from '@nestjs/common';
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

/**
 * Provides the typed `AppConfig` every module injects. createApp validates the environment once
 * (`.env`, then process.env, then overrides) and hands that one instance here; a module built
 * without it (a test importing AppModule directly) validates on its own, once. The values are
 * never copied back into process.env, so several apps booted in one process cannot leak
 * settings into each other.
 */
@Global()
@Module({})
export class AppConfigModule {
  static forRoot(options: AppConfigOptions = {}): DynamicModule {
    const config = options.config ?? loadConfigFromProcess({ overrides: options.overrides, ignoreEnvFile: options.ignoreEnvFile });
    return {
      module: AppConfigModule,
      providers: [{ provide: AppConfig, useValue: config }],
      exports: [AppConfig],
    };
  }
}
