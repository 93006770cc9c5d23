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

/** Each index's definition as the database stores it (CREATE INDEX … / pg_indexes.indexdef). */
async function indexDefinitions(dataSource: DataSource, table: string): Promise<Map<string, string>> {
  const rows: { name: string; definition: string }[] =
    dataSource.options.type === 'postgres'
      ? await dataSource.query(`SELECT indexname AS name, indexdef AS definition FROM pg_indexes WHERE tablename = $1`, [table])
      : await dataSource.query(
          `SELECT name, sql AS definition FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL`,
          [table],
        );
  return new Map(rows.map((row) => [row.name, row.definition]));
}

/** The query plan as text; on PostgreSQL with sequential scans priced out, so an index it can use is used even on a small table. */
async function plan(dataSource: DataSource, sql: string, params: unknown[]): Promise<string> {
  if (dataSource.options.type !== 'postgres') return JSON.stringify(await dataSource.query(`EXPLAIN QUERY PLAN ${sql}`, params));
  let n = 0;
  const numbered = sql.replace(/\?/g, () => `$${++n}`);
  return dataSource.transaction(async (manager) => {
    await manager.query('SET LOCAL enable_seqscan = off');
    return JSON.stringify(await manager.query(`EXPLAIN ${numbered}`, params));
  });
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

  it('make the partial indexes partial, with their entity condition, and the others whole', async () => {
    const dataSource = app.get(DataSource);
    const definitions = await indexDefinitions(dataSource, 'sms_messages');
    for (const index of dataSource.getMetadata(SmsMessage).indices) {
      const definition = definitions.get(index.name!)!;
      if (!index.where) expect(definition, index.name).not.toMatch(/\bWHERE\b/i);
      // PostgreSQL writes `status = 'queued'` back as `((status)::text = 'queued'::text)`.
      else
        expect(
          definition
            .replace(/::text/g, '')
            .replace(/[()"]/g, '')
            .toLowerCase(),
          index.name,
        ).toContain(index.where.replace(/[()"]/g, '').toLowerCase());
    }
  });

  it('serve every look-up by a value of a partially indexed column, and the claim, through those indexes', async () => {
    const dataSource = app.get(DataSource);
    const t = kind === 'postgres' ? '2026-01-01T00:00:00Z' : '2026-01-01 00:00:00.000';
    const cases: Array<[index: string, sql: string, params: unknown[]]> = [
      ['UQ_sms_messages_dedupe_key', `SELECT "id" FROM "sms_messages" WHERE "dedupe_key" = ?`, ['k']],
      ['IDX_sms_messages_provider_sid', `SELECT "id" FROM "sms_messages" WHERE "provider_sid" IN (?, ?)`, ['SM1', 'SM2']],
      ['IDX_sms_messages_related', `SELECT "id" FROM "sms_messages" WHERE "related_type" = ? AND "related_id" = ?`, ['appointment', '1']],
      [
        'IDX_sms_messages_type_created',
        `SELECT "id" FROM "sms_messages" WHERE "template_type" = ? ORDER BY "created_at" DESC LIMIT 20`,
        ['appointment_reminder'],
      ],
      ['IDX_sms_messages_batch_status', `SELECT count(*) FROM "sms_messages" WHERE "batch_id" = ? AND "status" = ?`, ['b', 'queued']],
      [
        'IDX_sms_messages_outbox',
        `SELECT "id" FROM "sms_messages" WHERE "status" = 'queued' AND "provider_sid" IS NULL AND "not_before" <= ? ORDER BY "not_before" LIMIT 10`,
        [t],
      ],
      [
        'IDX_sms_messages_outbox_single',
        // SQLite, without statistics, would take the outbox index and skip the batch's rows one by one: the claim names it.
        `SELECT "id" FROM "sms_messages"${kind === 'sqlite' ? ' INDEXED BY "IDX_sms_messages_outbox_single"' : ''} WHERE "status" = 'queued' AND "provider_sid" IS NULL AND "not_before" <= ? AND "batch_id" IS NULL ORDER BY "not_before" LIMIT 10`,
        [t],
      ],
      ['IDX_sms_messages_stats', `SELECT "id" FROM "sms_messages" WHERE "created_at" >= ? ORDER BY "created_at" DESC LIMIT 20`, [t]],
    ];
    for (const [index, sql, params] of cases) expect(await plan(dataSource, sql, params), sql).toContain(index);
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
