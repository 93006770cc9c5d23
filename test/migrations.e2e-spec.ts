import { DataSource } from 'typeorm';
import { MIGRATIONS } from '../src/database/migrations/index.js';
import { SmsMessage } from '../src/sms/sms-message.entity.js';
import { createTestDatabase, describeEachDatabase, type TestDatabase } from './support/databases.js';
import { TestApp } from './support/test-app.js';

/** The index names a table has in the database (not the primary key's). */
async function indexNames(dataSource: DataSource, table: string): Promise<string[]> {
  const rows: { name: string }[] =
    dataSource.options.type === 'postgres'
      ? await dataSource.query(
          `SELECT indexname AS name FROM pg_indexes WHERE tablename = $1 AND indexname NOT LIKE 'PK\\_%' AND indexname NOT LIKE '%pkey'`,
          [table],
        )
      : await dataSource.query(
          `SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND name NOT LIKE 'sqlite_autoindex%'`,
          [table],
        );
  return rows.map((row) => row.name).sort();
}

describeEachDatabase('Migrations', (kind) => {
  let db: TestDatabase;
  let app: TestApp;
  beforeAll(async () => {
    db = await createTestDatabase(kind);
    app = await TestApp.start(kind, {}, db);
  });
  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  it('leave sms_messages with exactly the indexes its entity declares (none redundant left behind)', async () => {
    const dataSource = app.get(DataSource);
    const declared = dataSource
      .getMetadata(SmsMessage)
      .indices.map((index) => index.name)
      .sort();
    expect(declared).not.toContain('IDX_sms_messages_batch');
    expect(await indexNames(dataSource, 'sms_messages')).toEqual(declared);
  });

  it('revert one by one down to an empty database and apply again', async () => {
    const dataSource = app.get(DataSource);
    await app.close();
    const source = new DataSource({ ...dataSource.options, migrations: MIGRATIONS } as never);
    await source.initialize();
    try {
      for (let i = 0; i < MIGRATIONS.length; i++) await source.undoLastMigration({ transaction: 'each' });
      expect(Number((await source.query('SELECT count(*) AS n FROM migrations'))[0].n)).toBe(0);
      const applied = await source.runMigrations({ transaction: 'each' });
      expect(applied.map((m) => m.name)).toEqual(MIGRATIONS.map((m) => m.name));
      expect(await indexNames(source, 'sms_messages')).toEqual(
        source
          .getMetadata(SmsMessage)
          .indices.map((index) => index.name)
          .sort(),
      );
    } finally {
      await source.destroy();
    }
  });
});
