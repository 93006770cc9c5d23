import { DataSource, type DataSourceOptions, type MigrationInterface, type QueryRunner } from 'typeorm';
import { inject, vi } from 'vitest';
import { buildDataSourceOptions, PG_CONNECT_TIMEOUT_MS } from '../src/database/data-source.js';
import { DatabaseQueryTimeoutError } from '../src/database/database-errors.js';
import { MIGRATIONS } from '../src/database/migrations/index.js';
import { initializeAndMigrate } from '../src/database/run-migrations.js';
import { SmsMessage } from '../src/sms/sms-message.entity.js';
import { createTestDatabase, type TestDatabase } from './support/databases.js';
import { LogCapture } from './support/log-capture.js';
import { freezableRelay } from './support/tcp-relay.js';
import { TestApp, twilioEnvironment } from './support/test-app.js';
import { testTwilioCredentials, TwilioStandIn } from './support/twilio-stand-in.js';

const postgresUrl = inject('postgresUrl');
const QUERY_TIMEOUT_MS = 1500;
const PHONE = '+33612345678';

/** Resolves with `work`'s result, or 'hung' after `ms`. */
const within = <T>(ms: number, work: Promise<T>) =>
  Promise.race([work, new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), ms))]);

/** What an answer says, with how long it took. */
async function timed(request: PromiseLike<{ status: number; body: unknown; headers: Record<string, string> }>) {
  const started = Date.now();
  const res = await request;
  return {
    status: res.status,
    body: res.body as Record<string, unknown>,
    retryAfter: res.headers['retry-after'],
    ms: Date.now() - started,
  };
}

/**
 * The database fails after the boot: PostgreSQL hangs (connections open, nothing answered) or goes away (connections
 * closed, new ones refused). Requests answer 503 with Retry-After within DATABASE_QUERY_TIMEOUT_MS instead of waiting
 * for TCP to give up (or a bare 500), log the reason's code only, store nothing, and the app recovers by itself when
 * the database is back.
 */
describe.skipIf(!postgresUrl)('PostgreSQL fails after boot', () => {
  let db: TestDatabase;
  let relay: Awaited<ReturnType<typeof freezableRelay>>;
  let t: TestApp | null = null;
  const logs = new LogCapture();

  beforeEach(async () => {
    db = await createTestDatabase('postgres');
    relay = await freezableRelay(new URL(db.url), 5432);
    logs.clear();
    t = await TestApp.start(
      'postgres',
      { DATABASE_QUERY_TIMEOUT_MS: String(QUERY_TIMEOUT_MS), SMS_PROVIDER: 'dry-run', LOG_LEVEL: 'warn' },
      { ...db, url: relay.url },
      { logDestination: logs },
    );
  });

  afterEach(async () => {
    if (t)
      await within(
        10_000,
        t.close().catch(() => undefined),
      );
    t = null;
    await relay.stop();
    await db.drop();
  });

  const sent = async () => {
    const direct = new DataSource(buildDataSourceOptions({ type: 'postgres', url: db.url }));
    await direct.initialize();
    try {
      return await direct.getRepository(SmsMessage).count();
    } finally {
      await direct.destroy();
    }
  };

  it('answers 503 within the query timeout while it hangs, stores nothing, and recovers when it answers again', async () => {
    const app = t!;
    const auth = { Authorization: `Bearer ${await app.rootToken()}` };
    expect((await app.http.get('/api/auth/me').set(auth)).status).toBe(200);

    relay.freeze();
    const answers = await within(
      PG_CONNECT_TIMEOUT_MS + 8_000,
      Promise.all([
        timed(app.http.get('/api/auth/me').set(auth)),
        ...Array.from({ length: 4 }, () => timed(app.http.post('/api/sms/send').set(auth).send({ to: PHONE, message: 'Bonjour' }))),
        timed(app.http.get('/api/health/ready')),
      ]),
    );
    expect(answers, 'a request waited for the frozen database').not.toBe('hung');
    const [me, ...rest] = answers as Exclude<typeof answers, 'hung'>;
    const ready = rest.pop()!;
    for (const answer of [me, ...rest]) {
      expect(answer).toMatchObject({
        status: 503,
        retryAfter: '5',
        body: { statusCode: 503, error: 'Service Unavailable' },
      });
      // A query on an open connection gives up after the query timeout; one waiting for a new connection (the pool
      // opens more under load) after the connect timeout.
      expect(answer.body.message).toMatch(/^The database is unavailable or busy \((DATABASE_QUERY_TIMEOUT|connect timeout)\)/);
      expect(answer.ms).toBeGreaterThanOrEqual(QUERY_TIMEOUT_MS - 100);
      expect(answer.ms).toBeLessThan(PG_CONNECT_TIMEOUT_MS + 2_000);
    }
    expect(ready).toMatchObject({ status: 503, body: { failing: ['database'] } });
    console.log(`[database-hang] 503 after ${[me, ...rest].map((a) => a.ms).join(', ')} ms`);

    relay.thaw();
    expect((await app.http.get('/api/auth/me').set(auth)).status).toBe(200);
    expect((await app.http.get('/api/health/ready')).status).toBe(200);
    const after = await app.http.post('/api/sms/send').set(auth).send({ to: PHONE, message: 'Bonjour' });
    expect(after.status).toBe(201);
    // The refused sends were never written (nor sent): only the one after the thaw is there.
    expect(await sent()).toBe(1);

    const errors = logs.lines.filter((line) => line.context === 'Errors').map((line) => line.msg);
    expect(errors).toHaveLength(5);
    expect(errors).toContain('Database unavailable (DATABASE_QUERY_TIMEOUT): answered 503');
    for (const line of errors) expect(line).toMatch(/^Database unavailable \((DATABASE_QUERY_TIMEOUT|connect timeout)\): answered 503$/);
    expect(logs.text).not.toContain(PHONE);
    expect(logs.text).not.toMatch(/\b(SELECT|INSERT|UPDATE)\b/);
  }, 60_000);

  it("answers 504 when a send's write gets no answer (it may have been stored), and sends again once it answers", async () => {
    const app = t!;
    const auth = { Authorization: `Bearer ${await app.rootToken()}` };
    expect((await app.http.post('/api/sms/send').set(auth).send({ to: PHONE, message: 'Bonjour' })).status).toBe(201);
    logs.clear();

    // The statement that writes the message never reaches PostgreSQL, and nothing more passes: the app cannot tell
    // whether it was stored.
    relay.freezeOn('INSERT INTO "sms_messages"');
    const answer = await within(
      PG_CONNECT_TIMEOUT_MS + 8_000,
      timed(app.http.post('/api/sms/send').set(auth).send({ to: PHONE, message: 'Bonjour' })),
    );
    expect(answer, 'the send waited for the frozen database').not.toBe('hung');
    expect(relay.frozen).toBe(true);
    expect(answer).toMatchObject({
      status: 504,
      retryAfter: undefined,
      body: {
        statusCode: 504,
        error: 'Gateway Timeout',
        message:
          'The database did not answer (DATABASE_QUERY_TIMEOUT): what this request writes may have been stored. Check before retrying (a send: GET /api/sms/messages)',
      },
    });
    expect((answer as { ms: number }).ms).toBeGreaterThanOrEqual(QUERY_TIMEOUT_MS - 100);
    expect(logs.lines.filter((line) => line.context === 'Errors').map((line) => line.msg)).toEqual([
      'Database did not answer a write (DATABASE_QUERY_TIMEOUT): answered 504, it may have been stored',
    ]);

    relay.thaw();
    expect((await app.http.post('/api/sms/send').set(auth).send({ to: PHONE, message: 'Bonjour' })).status).toBe(201);
    // The dropped statement was not stored: the sends before and after the freeze are.
    expect(await sent()).toBe(2);
  }, 60_000);

  it("answers 504 when a bulk send's COMMIT gets no answer (it may have been stored), and takes a bulk again once it answers", async () => {
    const app = t!;
    const auth = { Authorization: `Bearer ${await app.rootToken()}` };
    const bulk = { recipients: [{ phone: PHONE }, { phone: '+33612345679' }], message: 'Bonjour' };
    logs.clear();

    // The batch and its messages are written in one transaction; its COMMIT never reaches PostgreSQL (so nothing is
    // stored), but the app cannot tell.
    relay.freezeOn('COMMIT', 'INSERT INTO "sms_messages"');
    const answer = await within(PG_CONNECT_TIMEOUT_MS + 8_000, timed(app.http.post('/api/sms/bulk').set(auth).send(bulk)));
    expect(relay.frozen).toBe(true);
    expect(answer).toMatchObject({
      status: 504,
      retryAfter: undefined,
      body: {
        message: expect.stringMatching(
          /^The database did not answer \(DATABASE_QUERY_TIMEOUT\): what this request writes may have been stored/,
        ),
      },
    });
    expect(logs.lines.filter((line) => line.context === 'Errors').map((line) => line.msg)).toEqual([
      'Database did not answer a write (DATABASE_QUERY_TIMEOUT): answered 504, it may have been stored',
    ]);

    relay.thaw();
    expect((await app.http.post('/api/sms/bulk').set(auth).send(bulk)).status).toBe(202);
    await app.settle();
    // The dropped COMMIT stored nothing: only the second batch's two messages are there.
    expect(await sent()).toBe(2);
  }, 60_000);

  it('with an Idempotency-Key too: 504 (kept for the key), not the 503 of the look-up for the batch that follows', async () => {
    const app = t!;
    const auth = { Authorization: `Bearer ${await app.rootToken()}`, 'Idempotency-Key': 'bulk-commit-lost' };
    const bulk = { recipients: [{ phone: PHONE }, { phone: '+33612345679' }], message: 'Bonjour' };
    // The batch's COMMIT gets no answer, and the read for a batch stored under this key hangs as well.
    relay.freezeOn('COMMIT', 'INSERT INTO "sms_messages"');
    const answer = await within(PG_CONNECT_TIMEOUT_MS + 12_000, timed(app.http.post('/api/sms/bulk').set(auth).send(bulk)));
    expect(relay.frozen).toBe(true);
    expect(answer).toMatchObject({ status: 504 });
    relay.thaw();
  }, 60_000);

  it('answers 503 when a write inside a transaction gets no answer: the transaction is rolled back with the connection', async () => {
    const app = t!;
    const auth = { Authorization: `Bearer ${await app.rootToken()}` };
    const other = await app.http
      .post('/api/users')
      .set(auth)
      .send({ email: 'second@example.test', password: 'a-long-enough-password', role: 'superadmin' });
    expect(other.status).toBe(201);
    logs.clear();

    // Demoting a superadmin runs in a transaction on PostgreSQL (the superadmins' rows locked, then the UPDATE).
    relay.freezeOn('UPDATE "users"');
    const answer = await within(
      PG_CONNECT_TIMEOUT_MS + 8_000,
      timed(app.http.patch(`/api/users/${other.body.id}`).set(auth).send({ role: 'admin' })),
    );
    expect(relay.frozen).toBe(true);
    expect(answer).toMatchObject({
      status: 503,
      retryAfter: '5',
      body: { message: 'The database is unavailable or busy (DATABASE_QUERY_TIMEOUT); try again in a few seconds' },
    });

    relay.thaw();
    const users = (await app.http.get('/api/users').set(auth)).body as { items: Array<{ id: string; role: string }> };
    expect(users.items.find((user) => user.id === other.body.id)).toMatchObject({ role: 'superadmin' });
  }, 60_000);

  it('answers 503 at once while it is gone, logs the closed connections in JSON, and recovers when it is back', async () => {
    const app = t!;
    const auth = { Authorization: `Bearer ${await app.rootToken()}` };
    expect((await app.http.get('/api/auth/me').set(auth)).status).toBe(200);

    const port = relay.port;
    await relay.stop();
    const me = await timed(app.http.get('/api/auth/me').set(auth));
    const user = await timed(
      app.http.post('/api/users').set(auth).send({ email: 'new@example.test', password: 'a-long-enough-password', role: 'admin' }),
    );
    for (const answer of [me, user]) {
      expect(answer).toMatchObject({ status: 503, retryAfter: '5', body: { statusCode: 503, error: 'Service Unavailable' } });
      expect(answer.body.message).toMatch(/^The database is unavailable or busy \((ECONNREFUSED|ECONNRESET|connection lost)\)/);
      expect(answer.ms).toBeLessThan(QUERY_TIMEOUT_MS);
    }
    // pg's "pool raised an error" comes through the app's log (TypeORM printed it to the console), with its code only.
    const database = logs.lines.filter((line) => line.context === 'Database');
    // Closed by the relay: pg sees the end of the stream (or, rarely, a reset).
    expect(database.map((line) => line.msg)).toContainEqual(
      expect.stringMatching(/^An idle PostgreSQL connection failed \((connection lost|ECONNRESET)\); the pool opens another when needed$/),
    );

    relay = await freezableRelay(new URL(db.url), 5432, port);
    expect((await app.http.get('/api/auth/me').set(auth)).status).toBe(200);
    expect(
      (await app.http.post('/api/users').set(auth).send({ email: 'new@example.test', password: 'a-long-enough-password', role: 'admin' }))
        .status,
    ).toBe(201);
  }, 60_000);
});

/** A migration that takes longer than the query timeout under test (an index built on a large table, say). */
class SlowMigration1999999999999 implements MigrationInterface {
  name = 'SlowMigration1999999999999';
  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('SELECT pg_sleep(1.5)');
  }
  async down(): Promise<void> {}
}

describe.skipIf(!postgresUrl)('DATABASE_QUERY_TIMEOUT_MS and migrations', () => {
  it('leaves the migrations unbounded, then bounds every query; the pool replaces a timed-out connection', async () => {
    const db = await createTestDatabase('postgres');
    try {
      const options = buildDataSourceOptions({ type: 'postgres', url: db.url, queryTimeoutMs: 1000 });
      const dataSource = await initializeAndMigrate({
        ...options,
        migrations: [...MIGRATIONS, SlowMigration1999999999999],
      } as DataSourceOptions);
      try {
        const ran = (await dataSource.query('SELECT name FROM migrations')) as Array<{ name: string }>;
        expect(ran.map((row) => row.name)).toContain('SlowMigration1999999999999');
        const failure = await dataSource.query('SELECT pg_sleep(1.5)').then(
          () => null,
          (error: unknown) => error,
        );
        expect((failure as { driverError?: unknown }).driverError).toBeInstanceOf(DatabaseQueryTimeoutError);
        expect(await dataSource.query('SELECT 1 AS one')).toEqual([{ one: 1 }]);
      } finally {
        await dataSource.destroy();
      }
    } finally {
      await db.drop();
    }
  }, 60_000);
});

/**
 * The database hangs after a send's row is stored, while the request waits for Twilio's answer: the request must not
 * answer 503 ("nothing was stored: try again"), whose retry would send a second SMS. It answers 202 with the message
 * as last read (its id to poll), and the message is sent once.
 */
describe.skipIf(!postgresUrl)('PostgreSQL hangs while a stored send waits for Twilio', () => {
  const credentials = testTwilioCredentials();
  let db: TestDatabase;
  let relay: Awaited<ReturnType<typeof freezableRelay>>;
  let standIn: TwilioStandIn;
  let t: TestApp | null = null;

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    relay = await freezableRelay(new URL(db.url), 5432);
    standIn = await TwilioStandIn.start(credentials);
    t = await TestApp.start(
      'postgres',
      {
        ...twilioEnvironment(standIn, credentials.authToken),
        TWILIO_TIMEOUT_MS: '5000',
        DATABASE_QUERY_TIMEOUT_MS: String(QUERY_TIMEOUT_MS),
      },
      { ...db, url: relay.url },
    );
  });
  afterAll(async () => {
    relay?.thaw();
    if (t)
      await within(
        10_000,
        t.close().catch(() => undefined),
      );
    await relay?.stop();
    await standIn?.stop();
    await db?.drop();
  });

  it('answers 202 with the stored message, never 503; a retry with the Idempotency-Key sends nothing twice', async () => {
    const auth = { Authorization: `Bearer ${await t!.rootToken()}` };
    const body = { to: '+33612345679', message: 'Bonjour, votre dossier est prêt' };
    standIn.setBehaviour({ delayMs: 2500 });
    const send = () => t!.http.post('/api/sms/send').set(auth).set('Idempotency-Key', 'hang-after-store').send(body);
    const first = send().then((res) => res);
    while (standIn.createTimes.length < 1) await new Promise((resolve) => setTimeout(resolve, 10));
    relay.freeze();
    const answer = await first;
    relay.thaw();
    standIn.setBehaviour({});
    expect(answer.status, JSON.stringify(answer.body)).toBe(202);
    expect(answer.body).toMatchObject({ state: 'queued', id: expect.any(String) });
    // The answer could not be kept either (the database hung): the key's claim is taken over once its lease has run
    // out (aged here), and the run that takes it over finds the stored message instead of sending another.
    const direct = new DataSource(buildDataSourceOptions({ type: 'postgres', url: db.url }));
    await direct.initialize();
    try {
      await direct.query(`UPDATE idempotency_keys SET locked_until = now() - interval '1 second' WHERE state = 'running'`);
    } finally {
      await direct.destroy();
    }
    const retry = await send();
    expect([201, 202], JSON.stringify(retry.body)).toContain(retry.status);
    expect(retry.body.id).toBe(answer.body.id);
    await vi.waitFor(
      async () => {
        const stored = await t!.http.get(`/api/sms/messages/${answer.body.id}`).set(auth).expect(200);
        expect(stored.body.providerSid).toBe(standIn.messages[0]?.sid);
      },
      { timeout: 20_000, interval: 250 },
    );
    expect(standIn.messages).toHaveLength(1);
  }, 60_000);
});
