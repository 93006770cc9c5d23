import type { ObjectLiteral, Repository } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity.js';

/** Rows per INSERT statement: well under SQLite's and PostgreSQL's bound-parameter limits. */
const MAX_ROWS_PER_STATEMENT = 200;

interface Pending<T> {
  row: QueryDeepPartialEntity<T>;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit for one table: rows handed in during the same event-loop turn (or while the previous
 * statement is running) are written by one multi-row INSERT, and each caller's promise settles only
 * once its row is committed. Under load this turns N statements (N commits on SQLite, N round trips
 * on PostgreSQL) into one, without weakening "written before we go on". If a batch fails, its rows
 * are retried one by one so a bad row fails only its own caller.
 */
export class InsertBatcher<T extends ObjectLiteral> {
  private queue: Pending<T>[] = [];
  private flushing: Promise<void> | null = null;
  private scheduled = false;

  constructor(private readonly repository: Repository<T>) {}

  insert(row: QueryDeepPartialEntity<T>): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ row, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.flushing) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.flushing = this.flush().finally(() => {
        this.flushing = null;
        if (this.queue.length) this.schedule();
      });
    });
  }

  private async flush(): Promise<void> {
    const batch = this.queue.splice(0, MAX_ROWS_PER_STATEMENT);
    try {
      await this.write(batch.map((p) => p.row));
      for (const p of batch) p.resolve();
    } catch {
      for (const p of batch) {
        await this.write([p.row]).then(p.resolve, p.reject);
      }
    }
  }

  /**
   * One multi-row INSERT in plain SQL: TypeORM's query builder costs more CPU than the insert itself
   * on the send path. Values still go through the driver's own conversion (dates, JSON, booleans), and
   * callers set every column (ids and timestamps included), so nothing is read back.
   */
  private async write(rows: QueryDeepPartialEntity<T>[]): Promise<void> {
    const { metadata, manager } = this.repository;
    const driver = manager.connection.driver;
    const postgres = driver.options.type === 'postgres';
    const columns = metadata.columns.filter((c) => c.isInsert);
    const params: unknown[] = [];
    const tuples = rows.map((row) => {
      const slots = columns.map((column) => {
        const value = column.getEntityValue(row as ObjectLiteral);
        params.push(value === undefined ? null : driver.preparePersistentValue(value, column));
        return postgres ? `$${params.length}` : '?';
      });
      return `(${slots.join(', ')})`;
    });
    const names = columns.map((c) => driver.escape(c.databaseName)).join(', ');
    await this.repository.query(`INSERT INTO ${driver.escape(metadata.tableName)} (${names}) VALUES ${tuples.join(', ')}`, params);
  }
}
