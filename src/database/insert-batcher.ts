import type { ObjectLiteral, Repository } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity.js';
import { GroupCommit } from './group-commit.js';

/**
 * Group-committed inserts into one table (see GroupCommit): concurrent rows share one multi-row INSERT,
 * and each caller goes on only once its row is committed.
 */
export class InsertBatcher<T extends ObjectLiteral> {
  private readonly commits = new GroupCommit<QueryDeepPartialEntity<T>>((rows) => this.write(rows));

  constructor(private readonly repository: Repository<T>) {}

  insert(row: QueryDeepPartialEntity<T>): Promise<void> {
    return this.commits.submit(row);
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
        // A column the caller left out takes its declared default (a plain value), else NULL.
        const given = column.getEntityValue(row as ObjectLiteral);
        const value = given === undefined && typeof column.default !== 'function' ? column.default : given;
        params.push(value === undefined ? null : driver.preparePersistentValue(value, column));
        return postgres ? `$${params.length}` : '?';
      });
      return `(${slots.join(', ')})`;
    });
    const names = columns.map((c) => driver.escape(c.databaseName)).join(', ');
    await this.repository.query(`INSERT INTO ${driver.escape(metadata.tableName)} (${names}) VALUES ${tuples.join(', ')}`, params);
  }
}
