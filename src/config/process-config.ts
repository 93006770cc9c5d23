import { config as loadDotEnv } from 'dotenv';
import { AppConfig } from './app-config.js';

export interface ProcessConfigOptions {
  overrides?: Record<string, string | undefined>;
  ignoreEnvFile?: boolean;
}

/**
 * `.env` plus the environment (the environment wins, as with @nestjs/config), validated like the
 * app's: for the TypeORM CLI, for main.ts to refuse a bad environment with one line before Nest
 * starts, and for the few settings needed before Nest exists (the HTTP body limit).
 */
export function loadConfigFromProcess(options: ProcessConfigOptions = {}): AppConfig {
  const fromFile: Record<string, string> = {};
  if (!options.ignoreEnvFile) loadDotEnv({ quiet: true, processEnv: fromFile });
  return AppConfig.fromEnvironment({ ...fromFile, ...process.env, ...options.overrides });
}
