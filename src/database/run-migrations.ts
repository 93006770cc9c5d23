import pg from 'pg';
import { DataSource, type DataSourceOptions } from 'typeorm';

/**
 * Key of the PostgreSQL advisory lock held while an instance connects and migrates (any fixed
 * bigint, the same for every instance of this service; advisory locks are per database).
 */
export const MIGRATIONS_LOCK_KEY = '23447443241256786'; // 0x534d534d494752, "SMSMIGR" in ASCII

/**
 * Connects and runs pending migrations, one instance at a time.
 *
 * TypeORM 1.1.1 takes no lock of its own (MigrationExecutor reads the migrations table, then runs
 * what is missing, and the driver's `CREATE EXTENSION IF NOT EXISTS` on connect races too): two
 * instances booting together on an empty PostgreSQL database both try to create the same tables
 * and one crashes. Here one dedicated connection holds `pg_advisory_lock` from before TypeORM
 * connects until the migrations are done; the next instance waits, then finds nothing pending.
 * The lock belongs to that session, so it is released even if the process dies holding it.
 *
 * SQLite needs no lock: each migration runs in its own transaction on the single connection and
 * `busy_timeout` makes a second process wait for the first one's write lock.
 */
export async function initializeAndMigrate(options: DataSourceOptions): Promise<DataSource> {
  return withMigrationLock(options, async () => {
    const dataSource = await new DataSource(options).initialize();
    try {
      await dataSource.runMigrations({ transaction: 'each' });
    } catch (error) {
      await dataSource.destroy();
      throw error;
    }
    return dataSource;
  });
}

async function withMigrationLock<T>(options: DataSourceOptions, work: () => Promise<T>): Promise<T> {
  if (options.type !== 'postgres') return work();
  const client = new pg.Client({ connectionString: options.url });
  // A dropped connection ends the session, which releases the lock: nothing to do but not crash.
  client.on('error', () => undefined);
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATIONS_LOCK_KEY]);
    try {
      return await work();
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATIONS_LOCK_KEY]);
    }
  } finally {
    await client.end();
  }
}
