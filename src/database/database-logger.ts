import { Logger } from '@nestjs/common';
import type { Logger as TypeOrmLogger } from 'typeorm';
import { safeLogText } from '../common/log-safe.js';
import { databaseUnavailableReason } from './database-errors.js';

/**
 * TypeORM's own messages, in the app's structured log (context `Database`) instead of TypeORM's console output:
 * its warnings only, as before (`logging: ['warn']`). Statements and their parameters (emails, numbers, hashes)
 * are never logged: a failed query reaches its caller, and a request it fails logs its code (AllExceptionsFilter).
 */
export class DatabaseLogger implements TypeOrmLogger {
  private readonly logger = new Logger('Database');

  logQuery(): void {}

  logQueryError(): void {}

  logQuerySlow(): void {}

  logSchemaBuild(): void {}

  logMigration(): void {}

  log(level: 'log' | 'info' | 'warn', message: unknown): void {
    if (level === 'warn') this.logger.warn(safeLogText(message));
  }

  /**
   * An idle pooled PostgreSQL connection that failed (the server restarted, the network dropped it): the pool has
   * already dropped it and opens another when needed. Logged with its code, not pg's message.
   */
  poolError(error: unknown): void {
    const code = (error as { code?: unknown } | null)?.code;
    const reason = databaseUnavailableReason(error) ?? (typeof code === 'string' ? code : 'error');
    this.logger.warn(`An idle PostgreSQL connection failed (${reason}); the pool opens another when needed`);
  }
}
