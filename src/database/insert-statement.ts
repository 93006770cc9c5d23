import type { Repository } from 'typeorm';
import type { Statement } from './atomic.js';

/**
 * A multi-row INSERT of entities (every column set by the caller), for a transaction run by Atomic.
 * Columns null in every row are left to their default (null), and a Date shared by the rows (their
 * creation time) is converted once: a bulk batch's rows differ in a few columns only. Values go
 * through the driver's own conversions (dates, JSON), as TypeORM writes them.
 */
export function insertStatement<E extends object>(repository: Repository<E>, entities: E[]): Statement {
  const { metadata } = repository;
  const driver = repository.manager.connection.driver;
  const columns = metadata.columns.filter((c) => c.isInsert && entities.some((e) => c.getEntityValue(e) != null));
  const dates = new Map<Date, unknown>();
  const prepare = (value: unknown, column: (typeof columns)[number]): unknown => {
    if (value === undefined || value === null) return null;
    if (!(value instanceof Date)) return driver.preparePersistentValue(value, column);
    if (!dates.has(value)) dates.set(value, driver.preparePersistentValue(value, column));
    return dates.get(value);
  };
  const params: unknown[] = [];
  const tuple = `(${columns.map(() => '?').join(', ')})`;
  for (const entity of entities) for (const column of columns) params.push(prepare(column.getEntityValue(entity), column));
  const names = columns.map((c) => driver.escape(c.databaseName)).join(', ');
  return { sql: `INSERT INTO ${driver.escape(metadata.tableName)} (${names}) VALUES ${entities.map(() => tuple).join(', ')}`, params };
}
