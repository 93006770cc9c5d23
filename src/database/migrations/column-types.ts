import type { QueryRunner, TableColumnOptions } from 'typeorm';

/**
 * Column helpers so one migration serves SQLite and PostgreSQL: the QueryRunner API writes the
 * SQL for each, and these pick the type each database calls the same thing.
 */
export function columnTypes(queryRunner: QueryRunner) {
  const postgres = queryRunner.connection.driver.options.type === 'postgres';
  return {
    postgres,
    uuidPrimary: (name = 'id'): TableColumnOptions => ({
      name,
      type: postgres ? 'uuid' : 'varchar',
      length: postgres ? undefined : '36',
      isPrimary: true,
      isGenerated: true,
      generationStrategy: 'uuid',
    }),
    uuid: (name: string, isNullable = false): TableColumnOptions => ({
      name,
      type: postgres ? 'uuid' : 'varchar',
      length: postgres ? undefined : '36',
      isNullable,
    }),
    /**
     * Instants: `timestamptz` on PostgreSQL (an absolute time, read back the same whatever the session's
     * TimeZone), `datetime` text in UTC on SQLite (TypeORM writes and reads it as UTC).
     */
    timestamp: (name: string, options: { isNullable?: boolean; now?: boolean } = {}): TableColumnOptions => ({
      name,
      type: postgres ? 'timestamptz' : 'datetime',
      isNullable: options.isNullable ?? false,
      // SQLite's datetime('now') has whole seconds: keep milliseconds so "newest first" holds.
      default: options.now ? (postgres ? 'now()' : "(strftime('%Y-%m-%d %H:%M:%f', 'now'))") : undefined,
    }),
    json: (name: string, isNullable = true): TableColumnOptions => ({ name, type: 'json', isNullable }),
  };
}
