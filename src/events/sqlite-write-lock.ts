import type { DataSource } from 'typeorm';

let queue: Promise<unknown> = Promise.resolve();

/**
 * SQLite only: runs `work` after every other piece of work handed here in this process has finished.
 *
 * TypeORM shares one query runner per better-sqlite3 database, so two transactions open at once
 * would nest (the second becomes a savepoint of the first). And better-sqlite3 waits for a lock
 * synchronously: with two connections in one process (two app instances in one test process), a
 * write blocked by the other connection's open transaction would stop the event loop that
 * transaction needs to finish. The outbox's transactions and the relay's writes therefore take
 * turns here. The queue is per process on purpose: separate processes wait for each other in
 * SQLite itself (busy_timeout). PostgreSQL: no serialization at all.
 */
export function withSqliteWriteLock<T>(dataSource: DataSource, work: () => Promise<T>): Promise<T> {
  if (dataSource.options.type === 'postgres') return work();
  const next = queue.then(work);
  queue = next.catch(() => undefined);
  return next;
}
