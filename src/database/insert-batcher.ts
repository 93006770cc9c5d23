import type { ObjectLiteral, Repository } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity.js';
import { GroupCommit, type GroupCommitOptions } from './group-commit.js';

/**
 * Group-committed inserts into one table (see GroupCommit): concurrent rows share one multi-row INSERT,
 * and each caller goes on only once its row is committed. Rows carry their primary key, so after a lost
 * connection the batcher looks them up: a row that is there succeeds; one that is not gets
 * CommitOutcomeUnknownError.
 */
export class InsertBatcher<T extends ObjectLiteral> {
  private readonly commits: GroupCommit<QueryDeepPartialEntity<T>>;

  constructor(
    private readonly repository: Repository<T>,
    options: Pick<GroupCommitOptions<QueryDeepPartialEntity<T>>, 'maxQueued'> = {},
  ) {
    this.commits = new GroupCommit((rows) => this.write(rows), { ...options, verify: (rows) => this.present(rows) });
  }

  insert(row: QueryDeepPartialEntity<T>): Promise<void> {
    return this.commits.submit(row);
  }

  private slot(params: unknown[]): string {
    return this.repository.manager.connection.driver.options.type === 'postgres' ? `$${params.length}` : '?';
  }

  /**
   * One multi-row INSERT in plain SQL: TypeORM's query builder costs more CPU than the insert itself
   * on the send path. Values still go through the driver's own conversion (dates, JSON, booleans), and
   * callers set every column (ids and timestamps included), so nothing is read back.
   */
  private async write(rows: QueryDeepPartialEntity<T>[]): Promise<void> {
    const { metadata, manager } = this.repository;
    const driver = manager.connection.driver;
    const columns = metadata.columns.filter((c) => c.isInsert);
    const params: unknown[] = [];
    const tuples = rows.map((row) => {
      const slots = columns.map((column) => {
        // A column the caller left out takes its declared default (a plain value), else NULL.
        const given = column.getEntityValue(row as ObjectLiteral);
        const value = given === undefined && typeof column.default !== 'function' ? column.default : given;
        params.push(value === undefined ? null : driver.preparePersistentValue(value, column));
        return this.slot(params);
      });
      return `(${slots.join(', ')})`;
    });
    const names = columns.map((c) => driver.escape(c.databaseName)).join(', ');
    await this.repository.query(`INSERT INTO ${driver.escape(metadata.tableName)} (${names}) VALUES ${tuples.join(', ')}`, params);
  }

  /** Which rows are in the table, by their (single-column) primary key. */
  private async present(rows: QueryDeepPartialEntity<T>[]): Promise<boolean[]> {
    const { metadata, manager } = this.repository;
    const driver = manager.connection.driver;
    const [key] = metadata.primaryColumns;
    if (metadata.primaryColumns.length !== 1) return rows.map(() => false);
    const ids = rows.map((row) => key.getEntityValue(row as ObjectLiteral) as unknown);
    const params: unknown[] = [];
    const slots = ids.map((id) => {
      params.push(driver.preparePersistentValue(id, key));
      return this.slot(params);
    });
    const name = driver.escape(key.databaseName);
    const found: Record<string, unknown>[] = await this.repository.query(
      `SELECT ${name} AS id FROM ${driver.escape(metadata.tableName)} WHERE ${name} IN (${slots.join(', ')})`,
      params,
    );
    const seen = new Set(found.map((r) => String(r.id)));
    return ids.map((id) => id !== undefined && id !== null && seen.has(String(id)));
  }
}
