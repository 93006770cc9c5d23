import { AsyncLocalStorage } from 'node:async_hooks';
import type { DataSource, EntityManager, QueryRunner } from 'typeorm';

/**
 * Transactions that hold on SQLite as they do on PostgreSQL.
 *
 * TypeORM runs every statement of a better-sqlite3 database through ONE shared query runner. So,
 * left alone, a statement that another request issues while a transaction is open (between two of
 * its awaits) runs inside that transaction: it is rolled back with it, and it reads what is not yet
 * committed; two transactions open at once nest (the second becomes a savepoint of the first). And
 * better-sqlite3 waits for a lock synchronously, so with two connections in one process (two app
 * instances in one test process) a write blocked by the other connection's open transaction would
 * stop the very event loop that transaction needs to finish.
 *
 * Hence, on SQLite only, a gate for the whole process: one transaction open at a time, and while it
 * is open every statement that is not part of it (told apart with AsyncLocalStorage) waits for its
 * end. Our transactions are short (a few statements, no network call inside), so the wait is too.
 * On PostgreSQL this is TypeORM's own `transaction` (a pooled connection per transaction).
 */
export function runTransaction<T>(dataSource: DataSource, work: (manager: EntityManager) => Promise<T>): Promise<T> {
  if (dataSource.options.type === 'postgres') return dataSource.transaction(work);
  installSqliteGate(dataSource);
  // Already inside one of our transactions: TypeORM nests it as a savepoint.
  if (open && context.getStore() === open.token) return dataSource.transaction(work);
  return exclusive(() => dataSource.transaction(work));
}

const context = new AsyncLocalStorage<symbol>();
/** The transaction open now in this process, and a promise settled when it ends. */
let open: { token: symbol; ended: Promise<void> } | null = null;
/** Transactions waiting for their turn, in order. */
let turns: Promise<void> = Promise.resolve();
const gated = new WeakSet<QueryRunner>();

async function exclusive<T>(work: () => Promise<T>): Promise<T> {
  let end!: () => void;
  const ended = new Promise<void>((resolve) => (end = resolve));
  const previous = turns;
  turns = previous.then(() => ended);
  await previous;
  const token = Symbol('transaction');
  open = { token, ended };
  try {
    return await context.run(token, work);
  } finally {
    open = null;
    end();
  }
}

/**
 * While one of our transactions is open and the caller is not part of it: a promise settled when it
 * ends (wait, then ask again); else null. For code that runs statements synchronously on the shared
 * better-sqlite3 connection (Atomic): checked right before, with no await in between, it keeps those
 * statements out of an open async transaction.
 */
export function sqliteGateClosed(): Promise<void> | null {
  return open && context.getStore() !== open.token ? open.ended : null;
}

/**
 * Makes this database's statements from outside the open transaction wait for its end (see
 * runTransaction). Installed at boot for the app's database (DomainEvents); idempotent; a no-op on
 * PostgreSQL.
 */
export function installSqliteGate(dataSource: DataSource): void {
  if (dataSource.options.type === 'postgres') return;
  // better-sqlite3: createQueryRunner() always hands out the same runner, so one patch covers all.
  const runner = dataSource.driver.createQueryRunner('master');
  if (gated.has(runner)) return;
  gated.add(runner);
  const query = runner.query.bind(runner) as (...args: unknown[]) => Promise<unknown>;
  (runner as { query: (...args: unknown[]) => Promise<unknown> }).query = async (...args: unknown[]) => {
    for (let closed = sqliteGateClosed(); closed; closed = sqliteGateClosed()) await closed;
    return query(...args);
  };
}
