import { inject } from 'vitest';
import pg from 'pg';
import { DataSource } from 'typeorm';
import { buildDataSourceOptions } from '../src/database/data-source.js';
import { MIGRATIONS } from '../src/database/migrations/index.js';
import { Role } from '../src/users/role.enum.js';
import { createTestDatabase, describeEachDatabase, TestDatabase } from './support/databases.js';
import { TestApp } from './support/test-app.js';

/** A session zone far from UTC (and on the other side of the date line from the usual test machine). */
const SESSION_ZONE = 'Pacific/Auckland';
const MINUTE = 60_000;

/** The database's own sessions default to SESSION_ZONE: the app's connections get it too. */
async function setDatabaseZone(db: TestDatabase): Promise<void> {
  const name = new URL(db.url).pathname.slice(1);
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  await client.query(`ALTER DATABASE ${name} SET timezone TO '${SESSION_ZONE}'`);
  await client.end();
}

/** The Node process too runs away from UTC in this file (Node applies a TZ change at once). */
const PROCESS_ZONE = 'America/New_York';
const processZone = process.env.TZ;
beforeAll(() => {
  process.env.TZ = PROCESS_ZONE;
});
afterAll(() => {
  if (processZone === undefined) delete process.env.TZ;
  else process.env.TZ = processZone;
});

it('runs with a non-UTC Node process zone (the premise of these suites)', () => {
  expect(new Date('2030-01-15T12:00:00Z').getTimezoneOffset()).toBe(300);
});

describeEachDatabase('Instants (PostgreSQL session and Node process in non-UTC zones)', (kind) => {
  let t: TestApp;
  let db: TestDatabase;
  let admin: string;
  const auth = () => ({ Authorization: `Bearer ${admin}` });

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    if (kind === 'postgres') await setDatabaseZone(db);
    t = await TestApp.start(kind, {}, db);
    admin = (await t.userWithRole(Role.Admin)).token;
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  it.runIf(kind === 'postgres')('runs with a non-UTC PostgreSQL session zone (the premise of this suite)', async () => {
    const [{ zone }] = await t.get(DataSource).query(`SELECT current_setting('TimeZone') AS zone`);
    expect(zone).toBe(SESSION_ZONE);
    const types: { data_type: string }[] = await t
      .get(DataSource)
      .query(
        `SELECT DISTINCT data_type FROM information_schema.columns WHERE table_schema = current_schema() AND data_type LIKE 'timestamp%'`,
      );
    expect(types.map((r) => r.data_type)).toEqual(['timestamp with time zone']);
  });

  it('an appointment reads back the instant it was given, also through filters and in the stored column', async () => {
    const startsAt = '2030-01-15T13:30:00.000Z';
    const created = await t.http
      .post('/api/appointments')
      .set(auth())
      .send({ clientName: 'Jean Dupont', clientPhone: '0612345678', startsAt: '2030-01-15T14:30:00+01:00' })
      .expect(201);
    expect(created.body.startsAt).toBe(startsAt);
    const read = await t.http.get(`/api/appointments/${created.body.id}`).set(auth()).expect(200);
    expect(read.body.startsAt).toBe(startsAt);
    expect(Math.abs(Date.parse(read.body.createdAt) - Date.now())).toBeLessThan(5 * MINUTE);

    // A window of one minute around the instant finds it; one that misses by the zone's offset does not.
    const found = await t.http
      .get('/api/appointments')
      .query({ from: '2030-01-15T13:29:00Z', to: '2030-01-15T13:31:00Z' })
      .set(auth())
      .expect(200);
    expect(found.body.items.map((a: { id: string }) => a.id)).toEqual([created.body.id]);

    const confirmed = await t.http.post(`/api/appointments/${created.body.id}/confirm`).set(auth()).expect(200);
    expect(confirmed.body.reminderDueAt).toBe('2030-01-14T13:30:00.000Z');

    if (kind === 'postgres') {
      const [row] = await t
        .get(DataSource)
        .query(
          `SELECT starts_at = '2030-01-15T13:30:00Z'::timestamptz AS same, starts_at AT TIME ZONE 'UTC' AS utc FROM appointments WHERE id = $1`,
          [created.body.id],
        );
      expect(row.same).toBe(true);
    }
  });

  it("a row updated by TypeORM's @UpdateDateColumn (SQL CURRENT_TIMESTAMP) gets now, not now shifted by the session zone", async () => {
    const root = await t.rootToken();
    const user = await t.userWithRole(Role.User);
    await t.http
      .patch(`/api/users/${user.id}`)
      .set({ Authorization: `Bearer ${root}` })
      .send({ name: 'Renamed' })
      .expect(200);
    const listed = await t.http
      .get('/api/users')
      .query({ limit: 100 })
      .set({ Authorization: `Bearer ${root}` })
      .expect(200);
    const updated = listed.body.items.find((u: { id: string }) => u.id === user.id);
    expect(updated.name).toBe('Renamed');
    expect(Math.abs(Date.parse(updated.updatedAt) - Date.now())).toBeLessThan(5 * MINUTE);
  });

  it('a sent SMS carries creation and update instants of now (database default and raw group-committed UPDATE alike)', async () => {
    const before = Date.now();
    const sent = await t.http.post('/api/sms/send').set(auth()).send({ to: '0612345678', message: 'Bonjour' }).expect(201);
    const message = (await t.http.get(`/api/sms/messages/${sent.body.id}`).set(auth()).expect(200)).body;
    for (const field of ['createdAt', 'updatedAt']) {
      expect(Date.parse(message[field])).toBeGreaterThan(before - MINUTE);
      expect(Date.parse(message[field])).toBeLessThan(Date.now() + MINUTE);
    }
    const since = await t.http
      .get('/api/sms/messages')
      .query({ since: new Date(before - MINUTE).toISOString() })
      .set(auth())
      .expect(200);
    expect(since.body.items.map((m: { id: string }) => m.id)).toContain(sent.body.id);

    if (kind === 'postgres') {
      // The database's own now(): a default-filled instant is now, not now shifted by the session zone.
      const [row] = await t
        .get(DataSource)
        .query(`SELECT abs(extract(epoch FROM (updated_at - now()))) AS drift FROM sms_messages WHERE id = $1`, [sent.body.id]);
      expect(Number(row.drift)).toBeLessThan(60);
    }
  });
});

describe.skipIf(!inject('postgresUrl'))('Timestamptz migration [postgres]', () => {
  let db: TestDatabase;
  let source: DataSource;

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    await setDatabaseZone(db);
    source = new DataSource({ ...buildDataSourceOptions({ type: 'postgres', url: db.url }), migrationsTransactionMode: 'each' });
    await source.initialize();
  });
  afterAll(async () => {
    await source?.destroy();
    await db?.drop();
  });

  const columnTypes = async () =>
    (await source.query(
      `SELECT table_name || '.' || column_name AS name, data_type, column_default FROM information_schema.columns
        WHERE table_schema = current_schema() AND data_type LIKE 'timestamp%' ORDER BY 1`,
    )) as { name: string; data_type: string; column_default: string | null }[];

  it('converts every UTC `timestamp` column of a database migrated before it, keeping each instant and making defaults now()', async () => {
    expect(MIGRATIONS.at(-1)?.name).toBeDefined();
    await source.runMigrations({ transaction: 'each' });
    // Back to the schema as it was before the conversion (what existing deployments have).
    const index = MIGRATIONS.findIndex((m) => m.name === 'Timestamptz1764420000000');
    for (let i = MIGRATIONS.length - 1; i >= index; i--) await source.undoLastMigration({ transaction: 'each' });
    const legacy = await columnTypes();
    expect(new Set(legacy.map((c) => c.data_type))).toEqual(new Set(['timestamp without time zone']));
    for (const column of [
      'users.created_at',
      'audit_logs.created_at',
      'sms_messages.not_before',
      'sms_messages.lease_until',
      'appointments.starts_at',
    ]) {
      expect(legacy.map((c) => c.name)).toContain(column);
    }

    // Legacy rows hold UTC wall times.
    await source.query(
      `INSERT INTO appointments (id, client_name, client_phone, starts_at, status, reminder_due_at, created_at, updated_at)
       VALUES ('6f1c2a9e-5b7d-4c1e-9a0b-2d4e6f8a1c3e', 'A', '+33612345678', '2030-01-15 13:30:00', 'confirmed', '2030-01-14 13:30:00', '2026-01-01 00:00:00', '2026-01-01 00:00:00')`,
    );
    await source.query(
      `INSERT INTO sms_messages (id, "to", body, kind, provider, status, segments, encoding, not_before, lease_until)
       VALUES ('7f1c2a9e-5b7d-4c1e-9a0b-2d4e6f8a1c3e', '+33612345678', 'x', 'single', 'dry-run', 'queued', 1, 'GSM-7', '2030-02-01 08:00:00', '2030-02-01 08:05:00')`,
    );

    await source.runMigrations({ transaction: 'each' });

    const converted = await columnTypes();
    // Every legacy column is still there (later migrations may add their own, created as timestamptz).
    expect(converted.map((c) => c.name)).toEqual(expect.arrayContaining(legacy.map((c) => c.name)));
    expect(new Set(converted.map((c) => c.data_type))).toEqual(new Set(['timestamp with time zone']));
    for (const c of converted.filter((c) => c.column_default !== null)) expect(c.column_default).toBe('now()');

    const [appointment] = await source.query(
      `SELECT starts_at = '2030-01-15T13:30:00Z'::timestamptz AS starts, reminder_due_at = '2030-01-14T13:30:00Z'::timestamptz AS due FROM appointments`,
    );
    expect(appointment).toEqual({ starts: true, due: true });
    const [message] = await source.query(
      `SELECT not_before, lease_until, abs(extract(epoch FROM (created_at - now()))) < 600 AS created_now FROM sms_messages`,
    );
    expect(message.not_before).toEqual(new Date('2030-02-01T08:00:00Z'));
    expect(message.lease_until).toEqual(new Date('2030-02-01T08:05:00Z'));
    expect(message.created_now).toBe(true);
  });
});
