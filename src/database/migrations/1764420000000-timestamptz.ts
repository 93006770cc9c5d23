import { MigrationInterface, QueryRunner } from 'typeorm';

interface TimestampColumn {
  table_name: string;
  column_name: string;
  column_default: string | null;
}

/** Every column of this schema whose type is `from` (PostgreSQL's information_schema names). */
async function columnsOfType(queryRunner: QueryRunner, from: string): Promise<Map<string, TimestampColumn[]>> {
  const rows: TimestampColumn[] = await queryRunner.query(
    `SELECT c.table_name, c.column_name, c.column_default FROM information_schema.columns c
       JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
      WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' AND c.data_type = $1
      ORDER BY c.table_name, c.ordinal_position`,
    [from],
  );
  const byTable = new Map<string, TimestampColumn[]>();
  for (const row of rows) byTable.set(row.table_name, [...(byTable.get(row.table_name) ?? []), row]);
  return byTable;
}

const quote = (name: string) => `"${name.replace(/"/g, '""')}"`;

/**
 * PostgreSQL instants become `timestamptz`: every `timestamp without time zone` column of every table
 * (users, audit_logs, sms_messages with not_before and lease_until, appointments, and any other migration's
 * before this one), read as the UTC it held. Defaults of `timezone('utc', now())` (a UTC wall time) become
 * `now()` (an instant). The app no longer changes `pg`'s process-wide date handling. SQLite: nothing to do
 * (its `datetime` columns hold UTC text, unchanged).
 */
export class Timestamptz1764420000000 implements MigrationInterface {
  name = 'Timestamptz1764420000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    if (queryRunner.connection.driver.options.type !== 'postgres') return;
    for (const [table, columns] of await columnsOfType(queryRunner, 'timestamp without time zone')) {
      const clauses = columns.flatMap((c) => {
        const utcDefault = c.column_default !== null && /timezone\('utc'/i.test(c.column_default);
        return [
          ...(c.column_default !== null ? [`ALTER COLUMN ${quote(c.column_name)} DROP DEFAULT`] : []),
          `ALTER COLUMN ${quote(c.column_name)} TYPE timestamptz USING ${quote(c.column_name)} AT TIME ZONE 'UTC'`,
          ...(utcDefault ? [`ALTER COLUMN ${quote(c.column_name)} SET DEFAULT now()`] : []),
          ...(c.column_default !== null && !utcDefault ? [`ALTER COLUMN ${quote(c.column_name)} SET DEFAULT ${c.column_default}`] : []),
        ];
      });
      // One statement per table: PostgreSQL rewrites each table once.
      await queryRunner.query(`ALTER TABLE ${quote(table)} ${clauses.join(', ')}`);
    }
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    if (queryRunner.connection.driver.options.type !== 'postgres') return;
    for (const [table, columns] of await columnsOfType(queryRunner, 'timestamp with time zone')) {
      const clauses = columns.flatMap((c) => {
        const nowDefault = c.column_default !== null && /^now\(\)$/i.test(c.column_default.trim());
        return [
          ...(c.column_default !== null ? [`ALTER COLUMN ${quote(c.column_name)} DROP DEFAULT`] : []),
          `ALTER COLUMN ${quote(c.column_name)} TYPE timestamp USING ${quote(c.column_name)} AT TIME ZONE 'UTC'`,
          ...(nowDefault ? [`ALTER COLUMN ${quote(c.column_name)} SET DEFAULT timezone('utc', now())`] : []),
          ...(c.column_default !== null && !nowDefault ? [`ALTER COLUMN ${quote(c.column_name)} SET DEFAULT ${c.column_default}`] : []),
        ];
      });
      await queryRunner.query(`ALTER TABLE ${quote(table)} ${clauses.join(', ')}`);
    }
  }
}
