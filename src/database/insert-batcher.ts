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

  private async write(rows: QueryDeepPartialEntity<T>[]): Promise<void> {
    // updateEntity(false): we set every value ourselves, so no read-back of generated columns.
    await this.repository.manager.createQueryBuilder().insert().into(this.repository.target).values(rows).updateEntity(false).execute();
  }
}
