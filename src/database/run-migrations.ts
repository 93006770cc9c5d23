import type { DataSource } from 'typeorm';

/**
 * Key of the session-level PostgreSQL advisory lock held while migrations run (any fixed bigint:
 * every instance of this service must use the same one). Chosen as a readable constant, "SMSMIGR".
 */
export const MIGRATIONS_LOCK_KEY = 0x534d534d494752n.toString();

/**
 * Runs pending migrations, one instance at a time.
 *
 * TypeORM 1.1.1 takes no lock of its own (MigrationExecutor reads the migrations table, then runs
 * what is missing): two instances booting together on an empty PostgreSQL database both try to
 * create the same tables and one crashes. Here a dedicated connection holds `pg_advisory_lock`
 * for the whole run; the second instance waits, then finds nothing pending. The lock is
 * session-level, so it is also released if the process dies holding it.
 *
 * SQLite needs no lock: each migration runs in its own transaction on the single connection and
 * `busy_timeout` makes a second process wait for the first one's write lock.
 */
export async function runMigrationsLocked(dataSource: DataSource): Promise<void> {
  if (dataSource.options.type !== 'postgres') {
    await dataSource.runMigrations({ transaction: 'each' });
    return;
  }
  const lock = dataSource.createQueryRunner();
  try {
    await lock.connect();
    await lock.query('SELECT pg_advisory_lock($1)', [MIGRATIONS_LOCK_KEY]);
    try {
      await dataSource.runMigrations({ transaction: 'each' });
    } finally {
      await lock.query('SELECT pg_advisory_unlock($1)', [MIGRATIONS_LOCK_KEY]);
    }
  } finally {
    await lock.release();
  }
}
