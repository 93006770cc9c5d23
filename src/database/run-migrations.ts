import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { BoundedPgClient, PG_CONNECT_TIMEOUT_MS, queryTimeoutOf } from './data-source.js';

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
 * SQLite has the same race between processes (a second one reads the migrations table before the
 * first commits, then tries to create a table that now exists), so there the lock is an exclusive
 * transaction on a small lock file beside the database (`<file>-migrations-lock`): SQLite's own file
 * lock, released by the OS if the process dies, and never a lock on the database the migrations write.
 */
export async function initializeAndMigrate(options: DataSourceOptions): Promise<DataSource> {
  return withMigrationLock(options, async () => {
    const dataSource = await new DataSource(options).initialize();
    try {
      // Unbounded (DATABASE_QUERY_TIMEOUT_MS): a migration may build an index on a large table for minutes.
      const migrate = () => dataSource.runMigrations({ transaction: 'each' });
      const timeout = queryTimeoutOf(options);
      await (timeout ? timeout.suspendedDuring(migrate) : migrate());
    } catch (error) {
      await dataSource.destroy();
      throw error;
    }
    return dataSource;
  });
}

/** The driver TypeORM uses for SQLite (it ships no types; this is all the lock needs of it). */
interface SqliteLockFile {
  exec(sql: string): void;
  close(): void;
}
const openSqlite = createRequire(import.meta.url)('better-sqlite3') as new (path: string, options: { timeout: number }) => SqliteLockFile;

/** How long a booting instance waits for another one's migrations before giving up. */
const MIGRATIONS_LOCK_WAIT_MS = 120_000;
const MIGRATIONS_LOCK_POLL_MS = 50;

async function withMigrationLock<T>(options: DataSourceOptions, work: () => Promise<T>): Promise<T> {
  if (options.type === 'better-sqlite3') return withSqliteLock(String(options.database), work);
  if (options.type !== 'postgres') return work();
  const client = new BoundedPgClient({ connectionString: options.url });
  // A dropped connection ends the session, which releases the lock: nothing to do but not crash.
  client.on('error', () => undefined);
  await client.connect().catch((error: unknown) => {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(
      `Could not connect to PostgreSQL at ${client.host}:${client.port} (${reason}; a connection attempt gives up after ${PG_CONNECT_TIMEOUT_MS / 1000} s)`,
    );
  });
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

async function withSqliteLock<T>(path: string, work: () => Promise<T>): Promise<T> {
  if (path === ':memory:') return work();
  // timeout 0: better-sqlite3's default busy timeout (5 s) would wait synchronously, blocking the
  // event loop, so an instance sharing this process (or this instance's own work) could not progress.
  const lock = new openSqlite(`${path}-migrations-lock`, { timeout: 0 });
  try {
    // Polled instead, without blocking.
    const deadline = Date.now() + MIGRATIONS_LOCK_WAIT_MS;
    for (;;) {
      try {
        lock.exec('BEGIN EXCLUSIVE');
        break;
      } catch (error) {
        const busy = (error as { code?: string }).code === 'SQLITE_BUSY';
        if (!busy || Date.now() > deadline) throw error;
        await sleep(MIGRATIONS_LOCK_POLL_MS);
      }
    }
    try {
      return await work();
    } finally {
      lock.exec('COMMIT');
    }
  } finally {
    lock.close();
  }
}
