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

/** Column types whose value goes into the JSON as it is (an object), not as TypeORM's string for the driver. */
const JSON_TYPES = new Set<unknown>(['json', 'jsonb']);

/**
 * PostgreSQL, inside a larger statement (a data-modifying `WITH`): inserts the rows among `rows` whose `key`
 * is returned by `keys` (a subquery), e.g. the journal entries of the rows an UPDATE of the same statement
 * changed. The rows travel as one JSON parameter and are typed by the table's own row type
 * (`json_populate_record`), so no value needs a cast. Columns the entities leave unset are NULL.
 */
export function insertWhereKeyInStatement<E extends object>(
  repository: Repository<E>,
  rows: { entity: E; key: string }[],
  keyType: string,
  keys: string,
): Statement {
  const { metadata } = repository;
  const driver = repository.manager.connection.driver;
  const columns = metadata.columns.filter((c) => c.isInsert);
  const payload = rows.map(({ entity, key }) => {
    const row: Record<string, unknown> = {};
    for (const column of columns) {
      const value: unknown = column.getEntityValue(entity);
      if (value === undefined || value === null) continue;
      // Dates become ISO strings in UTC (JSON.stringify), which timestamptz reads exactly.
      row[column.databaseName] = JSON_TYPES.has(column.type) ? value : driver.preparePersistentValue(value, column);
    }
    return { key, row };
  });
  const table = driver.escape(metadata.tableName);
  const names = columns.map((c) => driver.escape(c.databaseName)).join(', ');
  return {
    sql:
      `INSERT INTO ${table} (${names}) SELECT ${columns.map((c) => `r.${driver.escape(c.databaseName)}`).join(', ')} ` +
      `FROM json_array_elements(?::json) AS x(e) CROSS JOIN LATERAL json_populate_record(NULL::${table}, x.e -> 'row') AS r ` +
      `WHERE (x.e ->> 'key')::${keyType} IN (${keys})`,
    params: [JSON.stringify(payload)],
  };
}
