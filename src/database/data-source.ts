import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import pg from 'pg';
import type { DataSourceOptions } from 'typeorm';
import type { DatabaseConfig } from '../config/app-config.js';
import { ENTITIES } from './entities.js';
import { MIGRATIONS } from './migrations/index.js';

/** How long opening a PostgreSQL connection may take (see ConnectTimeoutClient). */
export const PG_CONNECT_TIMEOUT_MS = 5000;

/**
 * pg's client, whose connection fails when PostgreSQL does not answer within PG_CONNECT_TIMEOUT_MS (pg waits for ever
 * by default): a server that accepts and hangs, or a network that drops packets, no longer holds the boot, or a
 * request whose pool opens a connection, until TCP gives up. Given to the pool as its `Client`: the pool's own
 * `connectionTimeoutMillis` would also fail a query that merely waits for a free connection while all are busy.
 */
export class ConnectTimeoutClient extends pg.Client {
  constructor(config: string | pg.ClientConfig = {}) {
    const options = typeof config === 'string' ? { connectionString: config } : config;
    // `password` named: pg-pool keeps it as a property a spread does not copy (hidden from logs and stack traces).
    super({ ...options, password: options.password, connectionTimeoutMillis: PG_CONNECT_TIMEOUT_MS });
  }
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
  const common = {
    entities: ENTITIES,
    migrations: MIGRATIONS,
    migrationsRun: false,
    synchronize: false,
    // Not 'error': TypeORM would print failing queries with their parameters (emails, hashes).
    logging: ['warn'] as 'warn'[],
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
  // Each new connection is bounded by its client (ConnectTimeoutClient), not by the pool's `connectionTimeoutMillis`,
  // which would also fail a query that waits for a free connection under load.
  return { ...common, type: 'postgres', url: db.url, extra: { max: 20, Client: ConnectTimeoutClient } };
}
