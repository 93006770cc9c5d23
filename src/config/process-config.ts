import { config as loadDotEnv } from 'dotenv';
import { AppConfig } from './app-config.js';

/**
 * `.env` plus the environment, validated like the app's: for the TypeORM CLI, and for main.ts to
 * refuse a bad environment with one line before Nest starts.
 */
export function loadConfigFromProcess(): AppConfig {
  const fromFile = loadDotEnv({ quiet: true }).parsed ?? {};
  return AppConfig.fromEnvironment({ ...fromFile, ...process.env });
}
