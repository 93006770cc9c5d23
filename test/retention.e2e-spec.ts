import { randomUUID } from 'node:crypto';
import { SchedulerRegistry } from '@nestjs/schedule';
import { DataSource, type QueryRunner } from 'typeorm';
import { vi } from 'vitest';
import { AuditLog } from '../src/audit/audit-log.entity.js';
import { Clock } from '../src/common/clock.js';
import { DomainEvent } from '../src/events/domain-event.entity.js';
import { DomainEventRelay } from '../src/events/domain-event-relay.js';
import { RetentionService } from '../src/retention/retention.service.js';
import { RETENTION_STEPS } from '../src/retention/retention-steps.js';
import { SmsBatch, type SmsBatchStatus } from '../src/sms/sms-batch.entity.js';
import { PURGED, SmsKind, SmsMessage } from '../src/sms/sms-message.entity.js';
import { InboundSms } from '../src/sms/webhooks/inbound-sms.entity.js';
import { describeEachDatabase } from './support/databases.js';
import { TestApp } from './support/test-app.js';

const DAY = 86_400_000;
/** The test's "now", set through the injectable Clock (the real time: the journal stamps its own entries). */
const NOW = new Date(Math.floor(Date.now() / 1000) * 1000);
const ago = (days: number) => new Date(NOW.getTime() - days * DAY);

function message(createdAt: Date, overrides: Partial<SmsMessage> = {}): Partial<SmsMessage> {
  return {
    id: randomUUID(),
    to: '+33612345678',
    from: '+33700000000',
    body: 'Bonjour Jean, votre rendez-vous est confirmé',
    kind: SmsKind.Single,
    provider: 'twilio',
    status: 'delivered',
    providerSid: `SM${randomUUID().replace(/-/g, '')}`,
    segments: 2,
    encoding: 'UCS-2',
    actorIp: '203.0.113.7',
    relatedType: 'appointment',
    relatedId: randomUUID(),
    relatedVersion: 'confirmed|2030-10-05T10:00:00.000Z|+33612345678',
    createdAt,
    updatedAt: createdAt,
    ...overrides,
  };
}

function journal(createdAt: Date): Partial<AuditLog> {
  return {
    id: randomUUID(),
    action: 'send_sms',
    metadata: { to: '+33612345678', message: 'Bonjour Jean' },
    ip: '203.0.113.7',
    createdAt,
  };
}

function inbound(receivedAt: Date): Partial<InboundSms> {
  return {
    id: randomUUID(),
    providerSid: `SM${randomUUID().replace(/-/g, '')}`,
    from: '+33612345678',
    to: '+33700000000',
    body: 'Oui je serai là, merci',
    receivedAt,
  };
}

function batch(createdAt: Date, status: SmsBatchStatus): Partial<SmsBatch> {
  return {
    id: randomUUID(),
    status,
    message: 'Bonjour {{name}}, le cabinet du Dr Martin ferme le 24',
    total: 2,
    queued: 2,
    invalid: 0,
    duplicates: 0,
    remaining: status === 'running' ? 2 : 0,
    actorIp: '203.0.113.7',
    createdAt,
  };
}

describeEachDatabase('Data retention (RETENTION_DAYS)', (kind) => {
  let t: TestApp;
  let dataSource: DataSource;

  /** Every statement run through a query runner from now on (what the purge uses), for counting chunks. */
  const recordStatements = () => {
    const runners = new Set<QueryRunner>();
    const create = dataSource.createQueryRunner.bind(dataSource);
    vi.spyOn(dataSource, 'createQueryRunner').mockImplementation((...args: Parameters<DataSource['createQueryRunner']>) => {
      const runner = create(...args);
      // SQLite hands out its one runner every time: spy on it once (afterEach restores it).
      if (!vi.isMockFunction(runner.query)) vi.spyOn(runner, 'query');
      runners.add(runner);
      return runner;
    });
    return (pattern: RegExp) =>
      [...runners]
        .flatMap((runner) => vi.mocked(runner.query).mock.calls.map((call) => String(call[0])))
        .filter((sql) => pattern.test(sql));
  };

  const insertMany = async <T extends object>(target: new () => T, rows: Partial<T>[]) => {
    // Copies: TypeORM writes generated values back into the objects it inserts (on SQLite, not always to the
    // row they belong to), and the tests compare against the originals.
    const copies = rows.map((row) => ({ ...row }));
    for (let i = 0; i < copies.length; i += 100) await dataSource.getRepository(target).insert(copies.slice(i, i + 100) as never);
  };

  beforeAll(async () => {
    t = await TestApp.start(kind, { RETENTION_DAYS: '30', RETENTION_CHUNK_SIZE: '500', RETENTION_CHUNK_PAUSE_MS: '0' });
    dataSource = t.get(DataSource);
  });
  afterAll(async () => {
    await t?.close();
  });
  beforeEach(async () => {
    vi.spyOn(t.get(Clock), 'now').mockReturnValue(NOW);
    await dataSource.getRepository(SmsMessage).clear();
    await dataSource.getRepository(AuditLog).clear();
    await dataSource.getRepository(InboundSms).clear();
    await dataSource.getRepository(SmsBatch).clear();
  });
  afterEach(() => vi.restoreAllMocks());

  it('removes numbers and texts of old messages in chunks of 500, keeping their counts, states and segments; recent ones untouched', async () => {
    const old = [
      ...Array.from({ length: 1_198 }, (_, i) => message(ago(31 + (i % 200)))),
      message(ago(45), {
        status: 'failed',
        providerSid: null,
        errorCode: '21211',
        errorMessage: "The 'To' number +15005550001 is not valid",
      }),
      message(ago(60), { kind: SmsKind.Bulk, batchId: randomUUID(), status: 'undelivered', errorCode: '30003' }),
    ];
    const recent = [message(ago(29)), message(ago(1), { kind: SmsKind.Notification, templateType: 'appointment_reminder' })];
    // Old, but waiting to leave (sent later): kept until it has gone.
    const waiting = message(ago(40), { status: 'queued', providerSid: null, notBefore: new Date(NOW.getTime() + DAY) });
    await insertMany(SmsMessage, [...old, ...recent, waiting]);
    const statements = recordStatements();

    const report = await t.get(RetentionService).purge();

    expect(report.steps.smsMessages).toEqual({ rows: 1_200, statements: 3 });
    // Three statements (500, 500, 200 rows), each bounded.
    // (The dispatcher runs its own UPDATEs on sms_messages meanwhile: only the purge sets purged_at.)
    const purges = statements(/UPDATE "sms_messages" SET .*"purged_at" =/);
    expect(purges).toHaveLength(3);
    for (const sql of purges) expect(sql).toMatch(/ LIMIT 500\b/);

    const rows = await dataSource.getRepository(SmsMessage).find();
    expect(rows).toHaveLength(old.length + recent.length + 1);
    const byId = new Map(rows.map((r) => [r.id, r]));
    for (const before of old) {
      const after = byId.get(before.id!)!;
      expect(after).toMatchObject({
        to: PURGED,
        body: PURGED,
        errorMessage: null,
        actorIp: null,
        relatedVersion: null, // it holds the number
        relatedType: 'appointment',
        status: before.status,
        segments: 2,
        encoding: 'UCS-2',
        kind: before.kind,
        errorCode: before.errorCode ?? null,
        batchId: before.batchId ?? null,
      });
      expect(after.purgedAt?.getTime()).toBe(NOW.getTime());
      expect(after.createdAt.getTime()).toBe(before.createdAt!.getTime());
    }
    for (const before of [...recent, waiting]) {
      expect(byId.get(before.id!)).toMatchObject({
        to: '+33612345678',
        body: before.body,
        actorIp: '203.0.113.7',
        relatedVersion: before.relatedVersion,
        purgedAt: null,
      });
    }

    // The statistics still count them: per state, with their segments.
    const perStatus = await dataSource
      .getRepository(SmsMessage)
      .createQueryBuilder('m')
      .select('m.status', 'status')
      .addSelect('COUNT(*)', 'count')
      .addSelect('SUM(m.segments)', 'segments')
      .groupBy('m.status')
      .orderBy('m.status')
      .getRawMany<{ status: string; count: string | number; segments: string | number }>();
    expect(perStatus.map((r) => [r.status, Number(r.count), Number(r.segments)])).toEqual([
      ['delivered', 1_200, 2_400],
      ['failed', 1, 2],
      ['queued', 1, 2],
      ['undelivered', 1, 2],
    ]);

    // The API still shows a purged message, without its number or text.
    const listed = await t.http
      .get('/api/sms/messages')
      .query({ limit: 200 })
      .set('Authorization', `Bearer ${await t.rootToken()}`)
      .expect(200);
    expect(listed.body.total).toBe(1_203);
  });

  it('deletes old journal entries, keeps recent ones, and journals each purge with its counts', async () => {
    await insertMany(AuditLog, [...Array.from({ length: 700 }, (_, i) => journal(ago(31 + i))), journal(ago(29)), journal(ago(0))]);
    await insertMany(SmsMessage, [message(ago(31)), message(ago(2))]);
    const statements = recordStatements();

    const report = await t.get(RetentionService).purge();

    expect(report.steps.auditLogs).toEqual({ rows: 700, statements: 2 });
    expect(statements(/DELETE FROM "audit_logs"/)).toHaveLength(2);
    const left = await dataSource.getRepository(AuditLog).find({ order: { createdAt: 'ASC' } });
    expect(left.map((e) => e.action)).toEqual(['send_sms', 'send_sms', 'retention_purge']);
    expect(left.slice(0, 2).map((e) => e.createdAt.getTime())).toEqual([ago(29).getTime(), ago(0).getTime()]);
    const entry = left[2];
    expect(entry.actorId).toBeNull();
    expect(entry.metadata).toEqual({
      retentionDays: 30,
      cutoff: ago(30).toISOString(),
      smsMessages: 1,
      smsBatches: 0,
      inboundMessages: 0,
      domainEvents: 0,
      auditLogs: 700,
    });

    // Readable through the journal's route like any entry.
    const res = await t.http
      .get('/api/audit')
      .query({ action: 'retention_purge' })
      .set('Authorization', `Bearer ${await t.rootToken()}`)
      .expect(200);
    expect(res.body.items).toHaveLength(1);
  });

  it('deletes old inbound messages (replies, STOP…) and keeps recent ones', async () => {
    const old = Array.from({ length: 3 }, (_, i) => inbound(ago(31 + i)));
    const recent = [inbound(ago(29)), inbound(ago(0))];
    await insertMany(InboundSms, [...old, ...recent]);

    const report = await t.get(RetentionService).purge();

    expect(report.steps.inboundMessages).toEqual({ rows: 3, statements: 1 });
    const left = await dataSource.getRepository(InboundSms).find();
    expect(left.map((m) => m.id).sort()).toEqual(recent.map((m) => m.id).sort());
    const [entry] = await dataSource.getRepository(AuditLog).findBy({ action: 'retention_purge' });
    expect(entry.metadata).toMatchObject({ inboundMessages: 3, smsMessages: 0, smsBatches: 0, auditLogs: 0 });
  });

  it('deletes appointment events relayed before the cutoff (names and numbers in their payloads), never one not relayed yet', async () => {
    // The relay's own pruning (a week after processing) now waits an hour: what goes below is the purge's doing.
    await t.get(DomainEventRelay).prune();
    const events = dataSource.getRepository(DomainEvent);
    await events.clear();
    const event = (createdAt: Date, processedAt: Date | null, nextAttemptAt = createdAt): Partial<DomainEvent> => ({
      id: randomUUID(),
      type: 'appointment.confirmed',
      payload: { clientName: 'Léa Martin', clientPhone: '+33612345678', actorEmail: 'staff@example.com' },
      createdAt,
      nextAttemptAt,
      attempts: 1,
      lastError: null,
      processedAt,
    });
    const relayedBefore = event(ago(32), ago(31));
    const relayedAfter = event(ago(31), ago(29));
    // Not relayed yet (due in a year: the relay leaves it alone during the test), however old.
    const waiting = event(ago(40), null, new Date(NOW.getTime() + 365 * 86_400_000));
    await insertMany(DomainEvent, [relayedBefore, relayedAfter, waiting]);

    const report = await t.get(RetentionService).purge();

    expect(report.steps.domainEvents).toEqual({ rows: 1, statements: 1 });
    expect((await events.find()).map((e) => e.id).sort()).toEqual([relayedAfter.id, waiting.id].sort());
    const [entry] = await dataSource.getRepository(AuditLog).findBy({ action: 'retention_purge' });
    expect(entry.metadata).toMatchObject({ domainEvents: 1 });
    await events.clear();
  });

  it('removes the text of old batches once they are over, keeping their counts', async () => {
    const over = [batch(ago(40), 'completed'), batch(ago(35), 'cancelled')];
    const running = batch(ago(40), 'running');
    const recent = batch(ago(3), 'completed');
    await insertMany(SmsBatch, [...over, running, recent]);

    const report = await t.get(RetentionService).purge();
    const again = await t.get(RetentionService).purge();

    expect(report.steps.smsBatches).toEqual({ rows: 2, statements: 1 });
    expect(again.steps.smsBatches).toEqual({ rows: 0, statements: 1 });
    const rows = new Map((await dataSource.getRepository(SmsBatch).find()).map((b) => [b.id, b]));
    for (const b of over) expect(rows.get(b.id!)).toMatchObject({ message: PURGED, actorIp: null, total: 2, queued: 2 });
    for (const b of [running, recent]) expect(rows.get(b.id!)).toMatchObject({ message: running.message, actorIp: '203.0.113.7' });
  });

  it('is idempotent: a second pass finds nothing, runs one statement per step and journals nothing', async () => {
    await insertMany(SmsMessage, [message(ago(31)), message(ago(32))]);
    await t.get(RetentionService).purge();
    const journaled = await dataSource.getRepository(AuditLog).count();
    const statements = recordStatements();

    const again = await t.get(RetentionService).purge();

    expect(again.steps).toEqual({
      smsMessages: { rows: 0, statements: 1 },
      smsBatches: { rows: 0, statements: 1 },
      inboundMessages: { rows: 0, statements: 1 },
      domainEvents: { rows: 0, statements: 1 },
      auditLogs: { rows: 0, statements: 1 },
    });
    expect(
      statements(
        /UPDATE "sms_messages" SET .*"purged_at" =|UPDATE "sms_batches" SET "message" =|DELETE FROM "(sms_inbound_messages|domain_events|audit_logs)"/,
      ),
    ).toHaveLength(5);
    expect(await dataSource.getRepository(AuditLog).count()).toBe(journaled);
  });

  it('counts its passes and the rows of each step in the metrics, and when the last complete pass ended', async () => {
    const scrape = async () =>
      (
        await t.http
          .get('/api/metrics')
          .set('Authorization', `Bearer ${await t.rootToken()}`)
          .expect(200)
      ).text;
    const value = (text: string, series: string) =>
      Number(text.match(new RegExp(`^${series.replace(/[{}"]/g, '\\$&')} (\\S+)$`, 'm'))?.[1] ?? 0);
    const before = await scrape();
    await insertMany(SmsMessage, [message(ago(31)), message(ago(32)), message(ago(33))]);
    await insertMany(AuditLog, [journal(ago(40))]);
    const startedAt = Date.now() / 1000;
    await t.get(RetentionService).purge();
    const after = await scrape();
    const delta = (series: string) => value(after, series) - value(before, series);
    expect(delta('retention_passes_total{outcome="ok"}')).toBe(1);
    expect(delta('retention_rows_purged_total{step="smsMessages"}')).toBe(3);
    expect(delta('retention_rows_purged_total{step="auditLogs"}')).toBe(1);
    expect(value(after, 'retention_last_success_timestamp_seconds')).toBeGreaterThanOrEqual(Math.floor(startedAt));
  });

  it('reads the time from the Clock: moving it forward purges what has become old', async () => {
    await insertMany(SmsMessage, [message(ago(10))]);
    expect((await t.get(RetentionService).purge()).steps.smsMessages.rows).toBe(0);

    vi.spyOn(t.get(Clock), 'now').mockReturnValue(new Date(NOW.getTime() + 21 * DAY));

    expect((await t.get(RetentionService).purge()).steps.smsMessages.rows).toBe(1);
  });

  it.skipIf(kind !== 'sqlite')('finds the rows to purge through an index (SQLite query plan)', async () => {
    const step = RETENTION_STEPS.find((s) => s.name === 'smsMessages')!;
    const { sql, params } = t.get(RetentionService).statement(step, ago(30), NOW, 500);

    const plan = await dataSource.query(`EXPLAIN QUERY PLAN ${sql}`, params);

    expect(JSON.stringify(plan)).toContain('IDX_sms_messages_unpurged_created');
    // Relayed appointment events: by their processing time, through the relay's own index.
    const events = RETENTION_STEPS.find((s) => s.name === 'domainEvents')!;
    const eventsStatement = t.get(RetentionService).statement(events, ago(30), NOW, 500);
    const eventsPlan = await dataSource.query(`EXPLAIN QUERY PLAN ${eventsStatement.sql}`, eventsStatement.params);
    expect(JSON.stringify(eventsPlan)).toContain('IDX_domain_events_pending');
  });

  it('runs on a schedule (RETENTION_INTERVAL_MINUTES, 60 by default)', () => {
    const interval = t.get(SchedulerRegistry).getInterval('retention-purge') as { _idleTimeout: number };
    expect(interval._idleTimeout).toBe(60 * 60_000);
  });
});

describeEachDatabase('Data retention off (the default)', (kind) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await TestApp.start(kind);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('purges nothing and schedules nothing', async () => {
    const dataSource = t.get(DataSource);
    await dataSource.getRepository(SmsMessage).insert(message(new Date(Date.now() - 3_650 * DAY)) as never);

    const report = await t.get(RetentionService).purge();

    expect(report.steps).toEqual({});
    expect((await dataSource.getRepository(SmsMessage).findOneByOrFail({}))?.to).toBe('+33612345678');
    expect(t.get(SchedulerRegistry).doesExist('interval', 'retention-purge')).toBe(false);
  });
});
