import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { AuditLog } from '../src/audit/audit-log.entity.js';
import { buildDataSourceOptions } from '../src/database/data-source.js';
import { classifyWriteError, CommitOutcomeUnknownError } from '../src/database/group-commit.js';
import { InsertBatcher } from '../src/database/insert-batcher.js';
import { createTestDatabase, describeEachDatabase, TestDatabase } from './support/databases.js';

/** The drivers' real errors, as TypeORM hands them over, classified as GroupCommit needs. */
describeEachDatabase('GroupCommit on a real database', (kind) => {
  let db: TestDatabase;
  let source: DataSource;
  const row = (id = randomUUID()) => ({ id, action: 'test', metadata: null, createdAt: new Date() });

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    const url = db.url;
    source = new DataSource(
      buildDataSourceOptions(kind === 'sqlite' ? { type: 'sqlite', path: url.slice('sqlite:'.length) } : { type: 'postgres', url }),
    );
    await source.initialize();
    await source.runMigrations();
  });
  afterAll(async () => {
    await source?.destroy();
    await db?.drop();
  });

  it('a duplicate key, a missing NOT NULL value: constraint errors; only the bad row of a batch fails', async () => {
    const logs = source.getRepository(AuditLog);
    const taken = randomUUID();
    await logs.insert(row(taken));
    const duplicate = await logs.insert(row(taken)).catch((e: unknown) => e);
    expect(classifyWriteError(duplicate)).toBe('constraint');
    const notNull = await source.query(`INSERT INTO audit_logs (id, action) VALUES ('${randomUUID()}', NULL)`).catch((e: unknown) => e);
    expect(classifyWriteError(notNull)).toBe('constraint');

    const batcher = new InsertBatcher(logs);
    const ids = [randomUUID(), taken, randomUUID()];
    const results = await Promise.allSettled(ids.map((id) => batcher.insert(row(id))));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(await logs.countBy([{ id: ids[0] }, { id: ids[2] }])).toBe(2);
  });

  it.runIf(kind === 'postgres')(
    'a connection killed under a statement: outcome unknown, and a committed row is found and succeeds',
    async () => {
      // Its own DataSource, so the killed connection never goes back to the pool the rest of the test uses.
      const victim = new DataSource(buildDataSourceOptions({ type: 'postgres', url: db.url }));
      await victim.initialize();
      try {
        const runner = victim.createQueryRunner();
        await runner.connect();
        const [{ pid }] = await runner.query('SELECT pg_backend_pid() AS pid');
        const killed = runner.query('SELECT pg_sleep(10)').catch((e: unknown) => e);
        await new Promise((resolve) => setTimeout(resolve, 200));
        await source.query('SELECT pg_terminate_backend($1)', [pid]);
        const error = await killed;
        expect(error).toBeInstanceOf(Error);
        expect(classifyWriteError(error)).toBe('outcome-unknown');
      } finally {
        await victim.destroy().catch(() => undefined);
      }

      // A batch whose statement committed but whose answer was lost: the rows are looked up and succeed.
      const logs = source.getRepository(AuditLog);
      const committed = row();
      const missing = row();
      await logs.insert(committed);
      const lost = Object.assign(new Error('Connection terminated unexpectedly'), {});
      const batcher = new InsertBatcher(logs);
      (batcher as unknown as { write: () => Promise<void> }).write = async () => {
        throw lost;
      };
      const results = await Promise.allSettled([batcher.insert(committed), batcher.insert(missing)]);
      expect(results[0].status).toBe('fulfilled');
      expect(results[1].status === 'rejected' && results[1].reason).toBeInstanceOf(CommitOutcomeUnknownError);
    },
  );
});
