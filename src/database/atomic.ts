import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { PoolClient } from 'pg';
import type { DataSource } from 'typeorm';
import { sqliteGateClosed } from './transactions.js';

/** One SQL statement with `?` placeholders (rewritten to `$n` for PostgreSQL; never put `?` in literals). */
export interface Statement {
  sql: string;
  params: readonly unknown[];
}

export type Row = Record<string, unknown>;

/**
 * A transaction's body: it yields statements and receives their rows (use RETURNING to learn what
 * an UPDATE changed). Written once, it runs on both databases.
 */
export type Work<T> = Generator<Statement, T, Row[]>;

interface SqliteStatement {
  reader: boolean;
  all(...params: unknown[]): Row[];
  run(...params: unknown[]): unknown;
}
interface SqliteDatabase {
  prepare(sql: string): SqliteStatement;
  transaction<F extends () => unknown>(fn: F): F;
}

/**
 * Multi-statement transactions that hold on both databases.
 * - SQLite: the app shares one better-sqlite3 connection, so an async transaction would take in whatever
 *   other requests write meanwhile (and roll it back with its own). The body runs synchronously instead,
 *   inside better-sqlite3's own transaction: nothing else can run in between.
 * - PostgreSQL: its own pooled connection, BEGIN … COMMIT.
 */
@Injectable()
export class Atomic {
  readonly postgres: boolean;
  private readonly statements = new Map<string, SqliteStatement>();

  constructor(@InjectDataSource() private readonly dataSource: DataSource) {
    this.postgres = dataSource.driver.options.type === 'postgres';
  }

  /** A timestamp parameter as each database compares it (SQLite: TypeORM's UTC text form). */
  time(date: Date): string {
    const iso = date.toISOString();
    return this.postgres ? iso : iso.replace('T', ' ').replace('Z', '');
  }

  /** Runs one statement on its own (atomic by itself: no BEGIN / COMMIT round trips) and returns its rows. */
  async query(sql: string, params: readonly unknown[] = []): Promise<Row[]> {
    if (!this.postgres) {
      return this.run(function* (): Work<Row[]> {
        return yield { sql, params };
      });
    }
    const runner = this.dataSource.createQueryRunner();
    try {
      const result = await runner.query(numbered(sql), params as unknown[], true);
      return (result.records ?? []) as Row[];
    } finally {
      await runner.release();
    }
  }

  async run<T>(work: () => Work<T>): Promise<T> {
    if (!this.postgres) {
      const db = (this.dataSource.driver as unknown as { databaseConnection: SqliteDatabase }).databaseConnection;
      // Not inside another module's open async transaction (runTransaction's gate): wait for its end.
      for (let closed = sqliteGateClosed(); closed; closed = sqliteGateClosed()) await closed;
      return db.transaction(() => drive(work(), (statement) => this.sqlite(db, statement)))();
    }
    const runner = this.dataSource.createQueryRunner();
    const client = (await runner.connect()) as PoolClient;
    try {
      await client.query('BEGIN');
      const generator = work();
      let step = generator.next();
      while (!step.done) {
        const rows = (await client.query(numbered(step.value.sql), step.value.params as unknown[])).rows as Row[];
        step = generator.next(rows);
      }
      await client.query('COMMIT');
      return step.value;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      await runner.release();
    }
  }

  private sqlite(db: SqliteDatabase, { sql, params }: Statement): Row[] {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = db.prepare(sql);
      // Only repeated shapes are worth keeping (bulk chunks of one size, claims, settles).
      if (this.statements.size < 200) this.statements.set(sql, statement);
    }
    if (statement.reader) return statement.all(...params);
    statement.run(...params);
    return [];
  }
}

function drive<T>(generator: Work<T>, execute: (statement: Statement) => Row[]): T {
  let step = generator.next();
  while (!step.done) step = generator.next(execute(step.value));
  return step.value;
}

/** `?` → `$1`, `$2`… for PostgreSQL. */
function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}
