import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import pg from 'pg';
import type { DataSourceOptions } from 'typeorm';
import type { DatabaseConfig } from '../config/app-config.js';
import { DatabaseQueryTimeoutError, isAnswerLost, lostAnswerMayHaveStored } from './database-errors.js';
import { DatabaseLogger } from './database-logger.js';
import { ENTITIES } from './entities.js';
import { MIGRATIONS } from './migrations/index.js';

/** How long opening a PostgreSQL connection may take (see BoundedPgClient). */
export const PG_CONNECT_TIMEOUT_MS = 5000;

/**
 * How long a query of one data source's PostgreSQL connections may go unanswered (DATABASE_QUERY_TIMEOUT_MS), read at
 * each query. Suspended while the migrations run: building an index on a large table may take minutes.
 */
export class QueryTimeout {
  private suspensions = 0;

  constructor(readonly ms: number) {}

  /** The bound for a query starting now, in ms; 0: none. */
  get current(): number {
    return this.suspensions > 0 ? 0 : this.ms;
  }

  async suspendedDuring<T>(work: () => Promise<T>): Promise<T> {
    this.suspensions++;
    try {
      return await work();
    } finally {
      this.suspensions--;
    }
  }
}

type BoundedPgClientConfig = pg.ClientConfig & { queryTimeout?: QueryTimeout };

/**
 * pg's client, bounded where pg waits for ever by default (a server that accepts and hangs, a network that drops
 * packets, a database host gone after a failover):
 * - opening its connection fails after PG_CONNECT_TIMEOUT_MS, so the boot, or a request whose pool opens a
 *   connection, does not wait until TCP gives up (the pool's own `connectionTimeoutMillis` would also fail a query
 *   that merely waits for a free connection while all are busy);
 * - a query unanswered within its `queryTimeout` closes the connection: the query fails with
 *   DatabaseQueryTimeoutError (the request answers 503) and the pool drops the client for a new one. pg's own
 *   `query_timeout` fails the query but keeps the client waiting for that answer, so the pool would hand the hung
 *   connection to the next request.
 * Given to the pool as its `Client`.
 */
export class BoundedPgClient extends pg.Client {
  private readonly queryTimeout: QueryTimeout | undefined;

  constructor(config: string | BoundedPgClientConfig = {}) {
    const { queryTimeout, ...options }: BoundedPgClientConfig = typeof config === 'string' ? { connectionString: config } : config;
    // `password` named: pg-pool keeps it as a property a spread does not copy (hidden from logs and stack traces).
    super({ ...options, password: (config as pg.ClientConfig).password, connectionTimeoutMillis: PG_CONNECT_TIMEOUT_MS });
    this.queryTimeout = queryTimeout;
  }

  // pg's overloads: a promise (what TypeORM asks for), a callback, or a submittable (streams), left unbounded.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  override query(...args: any[]): any {
    // Sent inside a transaction ('T', or 'E' once failed): losing its answer rolls it back (database-errors.ts).
    const status = (this as unknown as { getTransactionStatus(): string | null }).getTransactionStatus();
    const inTransaction = status === 'T' || status === 'E';
    const first: unknown = args[0];
    const statement = typeof first === 'string' ? first : String((first as { text?: unknown } | null)?.text ?? '');
    const result: unknown = (super.query as (...a: unknown[]) => unknown)(...args);
    if (!(result instanceof Promise)) return result;
    // The bound starts when the query is handed to pg: one queued behind another on this client (TypeORM sends a
    // client's statements one at a time) would count that wait too.
    const ms = this.queryTimeout?.current ?? 0;
    let timedOut = false;
    const timer = ms
      ? setTimeout(() => {
          timedOut = true;
          // pg then fails this query and every one queued behind it, and marks the client unusable: the pool drops it.
          (this as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
        }, ms)
      : undefined;
    return result.then(
      (value: unknown) => {
        clearTimeout(timer);
        return value;
      },
      (error: unknown) => {
        clearTimeout(timer);
        const failure: unknown = timedOut ? new DatabaseQueryTimeoutError(ms, error) : error;
        // Marked here, where the statement and the transaction are known (TypeORM's QueryFailedError copies the mark;
        // Atomic's raw statements keep it). pg gives one error to every query queued on a lost connection: a mark
        // left by another statement only errs towards "may have been stored".
        if (failure && typeof failure === 'object' && isAnswerLost(failure) && lostAnswerMayHaveStored(statement, inTransaction)) {
          (failure as { mayHaveStored?: boolean }).mayHaveStored = true;
        }
        throw failure;
      },
    );
  }
}

/** The QueryTimeout of options built by buildDataSourceOptions (PostgreSQL), if any. */
export function queryTimeoutOf(options: DataSourceOptions): QueryTimeout | undefined {
  const extra = (options as { extra?: { queryTimeout?: unknown } }).extra;
  return extra?.queryTimeout instanceof QueryTimeout ? extra.queryTimeout : undefined;
}

/**
 * The one description of the database the app, the tests and the TypeORM CLI share.
 * Entities and migrations are explicit arrays (no globs): Node's import() of .ts globs
 * fails under Vitest.
 *
 * Instants are `timestamptz` on PostgreSQL (UTC `datetime` text on SQLite): a JS Date goes in with its
 * offset and comes back as the same instant whatever the session's or the process's time zone, so no
 * process-wide `pg` setting is changed here (other users of `pg` in the process keep its defaults).
 */
export function buildDataSourceOptions(db: DatabaseConfig): DataSourceOptions {
  const logger = new DatabaseLogger();
  const common = {
    entities: ENTITIES,
    migrations: MIGRATIONS,
    migrationsRun: false,
    synchronize: false,
    // Warnings only, through the app's log (DatabaseLogger): never failing queries with their parameters.
    logging: ['warn'] as 'warn'[],
    logger,
  };
  if (db.type === 'sqlite') {
    if (db.path !== ':memory:') mkdirSync(dirname(db.path), { recursive: true });
    return {
      ...common,
      type: 'better-sqlite3',
      database: db.path,
      // WAL with synchronous=NORMAL: an insert-per-request route ran about 2.5x faster than the
      // default rollback journal, still crash-safe for the database (the last commits may be lost
      // on power failure, never corrupted). busy_timeout lets concurrent writers wait, not fail.
      prepareDatabase: (sqlite: { pragma(sql: string): unknown }) => {
        if (db.path !== ':memory:') sqlite.pragma('journal_mode = WAL');
        sqlite.pragma('synchronous = NORMAL');
        sqlite.pragma('busy_timeout = 5000');
        sqlite.pragma('foreign_keys = ON');
      },
    };
  }
  // Each new connection and each query are bounded by its client (BoundedPgClient), not by the pool's
  // `connectionTimeoutMillis`, which would also fail a query that waits for a free connection under load.
  // pg-pool hands its options, `queryTimeout` with them, to each client it creates.
  const queryTimeout = new QueryTimeout(db.queryTimeoutMs ?? 0);
  return {
    ...common,
    type: 'postgres',
    url: db.url,
    extra: { max: 20, Client: BoundedPgClient, queryTimeout },
    poolErrorHandler: (error: unknown) => logger.poolError(error),
  };
}
