import { randomUUID } from 'node:crypto';
import { DataSource, In } from 'typeorm';
import { vi } from 'vitest';
import { AuditLog } from '../src/audit/audit-log.entity.js';
import { Atomic } from '../src/database/atomic.js';
import { buildDataSourceOptions } from '../src/database/data-source.js';
import { CommitOutcomeUnknownError } from '../src/database/database-errors.js';
import { classifyWriteError } from '../src/database/group-commit.js';
import { InsertBatcher } from '../src/database/insert-batcher.js';
import { SentSettlements } from '../src/sms/dispatch/sent-settlements.js';
import { SMS_SENDING, SmsKind, SmsMessage } from '../src/sms/sms-message.entity.js';
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

/** The "sent" settlements of single sends, group-committed (src/sms/dispatch/sent-settlements.ts). */
describeEachDatabase('SentSettlements on a real database', (kind) => {
  let db: TestDatabase;
  let source: DataSource;
  let atomic: Atomic;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    source = new DataSource(
      buildDataSourceOptions(
        kind === 'sqlite' ? { type: 'sqlite', path: db.url.slice('sqlite:'.length) } : { type: 'postgres', url: db.url },
      ),
    );
    await source.initialize();
    await source.runMigrations();
    atomic = new Atomic(source);
  });
  afterAll(async () => {
    await source?.destroy();
    await db?.drop();
  });

  const sending = (attempts: number): SmsMessage =>
    Object.assign(new SmsMessage(), {
      id: randomUUID(),
      to: '+33612345678',
      from: '+33700000000',
      body: 'Bonjour',
      kind: SmsKind.Single,
      provider: 'twilio',
      status: SMS_SENDING,
      segments: 1,
      encoding: 'GSM-7',
      attempts,
      leaseUntil: new Date(Date.now() + 60_000),
      createdAt: new Date(),
      updatedAt: new Date(),
    });

  it('stores the answers of one turn in one write, each only if its row is still that attempt, with the journal entries of those that applied', async () => {
    const rows = [sending(1), sending(2), sending(1)];
    // The app's own insert (TypeORM's insert() of several rows may hand generated ids back to the wrong entities on SQLite).
    const inserts = new InsertBatcher(source.getRepository(SmsMessage));
    await Promise.all(rows.map((row) => inserts.insert(row)));
    const logs = source.getRepository(AuditLog);
    const settlements = new SentSettlements(atomic, logs);
    const entries = new Map<string, AuditLog>();
    const entry = (row: SmsMessage) => {
      const made = Object.assign(new AuditLog(), {
        id: randomUUID(),
        action: 'send_sms',
        targetType: 'sms_message',
        targetId: row.id,
        metadata: { messageId: row.id, status: 'queued' },
        createdAt: new Date(),
      });
      entries.set(row.id, made);
      return made;
    };
    const [queries, runs] = [vi.spyOn(atomic, 'query'), vi.spyOn(atomic, 'run')];
    const writes = [queries, runs];
    const t = atomic.time(new Date());
    // The second row's lease went to attempt 2: an answer for attempt 1 is not its holder's.
    const applied = await Promise.all(
      rows.map((row, i) =>
        settlements.store(row.id, 1, { status: 'queued', sid: `SM${String(i).padStart(32, '0')}`, from: null }, t, entry(row)),
      ),
    );
    expect(applied).toEqual([true, false, true]);
    expect(writes.reduce((n, spy) => n + spy.mock.calls.length, 0)).toBe(1);
    // PostgreSQL: the UPDATE and the journal entries are one statement (no BEGIN / COMMIT round trips).
    if (kind === 'postgres') expect(queries).toHaveBeenCalledTimes(1);
    const stored = await source.getRepository(SmsMessage).findBy({ id: In(rows.map((r) => r.id)) });
    const byId = new Map(stored.map((m) => [m.id, m]));
    expect(byId.get(rows[0].id)).toMatchObject({
      status: 'queued',
      providerSid: `SM${'0'.repeat(32)}`,
      leaseUntil: null,
      from: '+33700000000',
    });
    expect(byId.get(rows[1].id)).toMatchObject({ status: SMS_SENDING, providerSid: null, attempts: 2 });
    expect(byId.get(rows[2].id)?.sentAt).toBeInstanceOf(Date);
    // A journal entry for each row updated, none for the lost lease.
    const journaled = await logs.findBy({ targetId: In(rows.map((r) => r.id)) });
    expect(journaled.map((e) => e.targetId).sort()).toEqual([rows[0].id, rows[2].id].sort());
    expect(journaled[0].metadata).toEqual({ messageId: journaled[0].targetId, status: 'queued' });
    // Every column as written, the time to the millisecond (whatever the server's or the process's zone).
    const written = entries.get(rows[0].id)!;
    expect(journaled.find((e) => e.targetId === rows[0].id)).toMatchObject({
      id: written.id,
      action: 'send_sms',
      targetType: 'sms_message',
      createdAt: written.createdAt,
      actorId: null,
    });
  });
});
