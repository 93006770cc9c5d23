import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { DataSource } from 'typeorm';
import { inject } from 'vitest';
import { buildApp } from './support/built-app.js';
import { dispatchEnvironment, dropQueue, uniqueQueueName } from './support/dispatch.js';
import { onFreePort } from './support/free-port.js';
import { createTestDatabase, describeEachDatabase, type TestDatabase } from './support/databases.js';
import { baseEnvironment, ROOT_EMAIL, ROOT_PASSWORD, twilioEnvironment } from './support/test-app.js';
import { testTwilioCredentials, TwilioStandIn } from './support/twilio-stand-in.js';

/** A statement on the test database, from outside the app (as an operator, or time passing, would change it). */
async function sql(db: TestDatabase, statement: string): Promise<Record<string, unknown>[]> {
  const options =
    db.kind === 'sqlite'
      ? { type: 'better-sqlite3' as const, database: db.url.slice('sqlite:'.length) }
      : { type: 'postgres' as const, url: db.url };
  const dataSource = await new DataSource(options).initialize();
  try {
    return ((await dataSource.query(statement)) as Record<string, unknown>[] | undefined) ?? [];
  } finally {
    await dataSource.destroy();
  }
}

/** The app built for this file only (see buildApp). */
let build: ReturnType<typeof buildApp>;

/** The built service in its own process, as production runs it. */
class AppProcess {
  private constructor(
    readonly child: ChildProcess,
    readonly url: string,
    private readonly output: string[],
  ) {}

  /** Started again on another port if the one found was taken before the app listened (onFreePort). */
  static async start(env: Record<string, string>): Promise<AppProcess> {
    return onFreePort((port) => AppProcess.startOnce(env, port));
  }

  private static async startOnce(env: Record<string, string>, port: number): Promise<AppProcess> {
    const child = spawn(process.execPath, [build.main], {
      cwd: build.dir,
      env: { PATH: process.env.PATH, ...env, PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const output: string[] = [];
    const keep = (chunk: Buffer) => output.push(chunk.toString('utf8'));
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    const app = new AppProcess(child, `http://127.0.0.1:${port}`, output);
    const deadline = Date.now() + 60_000;
    for (;;) {
      // A native abort (SIGABRT) ends it with a signal and no exit code.
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(`the app exited while starting (${child.signalCode ?? child.exitCode}):\n${output.join('')}`);
      try {
        if ((await fetch(`${app.url}/api/health`)).status === 200) return app;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`the app did not start:\n${output.join('')}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  async json(method: string, path: string, token?: string, body?: unknown) {
    const res = await fetch(`${this.url}${path}`, {
      method,
      headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), ...(body ? { 'Content-Type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    }).catch((error: unknown) => {
      // The app died on its own (not our SIGKILL): say so, with what it printed, not only "fetch failed".
      const { exitCode, signalCode } = this.child;
      if (exitCode === null && signalCode === null) throw error;
      throw new Error(`the app is gone (${signalCode ?? exitCode}):\n${this.output.join('').slice(-4000)}`, { cause: error });
    });
    return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, any> }; // eslint-disable-line @typescript-eslint/no-explicit-any
  }

  /** What it printed so far (its log lines, JSON). */
  printed(): string {
    return this.output.join('');
  }

  async token(): Promise<string> {
    const res = await this.json('POST', '/api/auth/login', undefined, { email: ROOT_EMAIL, password: ROOT_PASSWORD });
    return res.body.access_token as string;
  }

  kill(): Promise<unknown> {
    const exited = once(this.child, 'exit');
    this.child.kill('SIGKILL');
    return exited;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = once(this.child, 'exit');
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}

describe('SMS dispatch across a crash (the built service, killed with SIGKILL)', () => {
  beforeAll(() => {
    build = buildApp('sms-crash');
    expect(existsSync(build.main)).toBe(true);
  }, 240_000);
  afterAll(() => build?.remove());

  describeEachDatabase('a 2,000-recipient batch killed halfway and restarted', (kind) => {
    const credentials = testTwilioCredentials();
    let standIn: TwilioStandIn;
    let db: TestDatabase;
    const apps: AppProcess[] = [];

    beforeAll(async () => {
      standIn = await TwilioStandIn.start({ ...credentials, recordRequests: false });
      db = await createTestDatabase(kind);
    });
    afterAll(async () => {
      for (const app of apps) await app.stop();
      await standIn?.stop();
      await db?.drop();
    });

    it('ends with every recipient sent exactly once at Twilio or failed with a reason', async () => {
      const env = {
        ...baseEnvironment(db.url),
        ...twilioEnvironment(standIn, credentials.authToken),
        SMS_MAX_CONCURRENCY: '10',
        SMS_MAX_PER_SECOND: '500',
        SMS_MAX_ATTEMPTS: '6',
        SMS_RETRY_BASE_MS: '10',
        SMS_RETRY_MAX_MS: '200',
        SMS_LEASE_MS: '2000',
        SMS_POLL_INTERVAL_MS: '200',
        LOG_LEVEL: 'warn',
      };
      standIn.setBehaviour({
        delayMs: 5,
        faults: [
          { status: 500, rate: 0.1 },
          { status: 429, rate: 0.1 },
        ],
        dropReplyRate: 0.02,
        retryAfterSeconds: 0,
        seed: 11,
      });
      let app = await AppProcess.start(env);
      apps.push(app);
      const recipients = Array.from({ length: 2000 }, (_, i) => ({ phone: `+3362${String(i).padStart(7, '0')}`, name: `C${i}` }));
      const accepted = await app.json('POST', '/api/sms/bulk', await app.token(), { recipients, message: 'Bonjour {{name}}' });
      expect(accepted.status).toBe(202);
      const batchId = accepted.body.batchId as string;

      // Kill it in the middle of the batch, calls in flight included.
      while (standIn.createTimes.length < 700) await new Promise((resolve) => setTimeout(resolve, 20));
      await app.kill();
      const atKill = standIn.messages.length;
      expect(atKill).toBeLessThan(2000);

      app = await AppProcess.start(env);
      apps.push(app);
      const token = await app.token();
      const deadline = Date.now() + 240_000;
      let batch;
      for (;;) {
        batch = (await app.json('GET', `/api/sms/bulk/${batchId}`, token)).body;
        if (batch.status !== 'running' || Date.now() > deadline) break;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      expect(batch.status).toBe('completed');
      expect(standIn.messages.length).toBeGreaterThan(atKill);

      const rows: { to: string; status: string; providerSid: string | null; errorCode: string | null }[] = [];
      for (let page = 1; rows.length < 2000; page++) {
        const res = await app.json('GET', `/api/sms/bulk/${batchId}/messages?page=${page}&limit=200`, token);
        expect(res.status).toBe(200);
        if (!res.body.items.length) break;
        rows.push(...res.body.items);
      }
      expect(rows).toHaveLength(2000);
      const atTwilio = new Map<string, string[]>();
      for (const m of standIn.messages) atTwilio.set(m.to, [...(atTwilio.get(m.to) ?? []), m.sid]);
      for (const [to, sids] of atTwilio) expect(sids, `messages to ${to}`).toHaveLength(1);
      for (const row of rows) {
        const sids = atTwilio.get(row.to) ?? [];
        if (row.status === 'failed') {
          expect(row.errorCode).toBeTruthy();
          expect(sids.length).toBeLessThanOrEqual(1);
        } else expect(row.providerSid, row.to).toBe(sids[0]);
      }
      expect(batch.counts).toMatchObject({ queued: 0, sending: 0 });
      // Each message journaled once (send_bulk_sms, its number and SID), the crash and the restart notwithstanding.
      const journaled = await sql(
        db,
        `SELECT target_id AS id, count(*) AS n FROM audit_logs WHERE action = 'send_bulk_sms' AND target_type = 'sms_message' GROUP BY target_id`,
      );
      expect(journaled).toHaveLength(2000);
      expect(journaled.filter((entry) => Number(entry.n) !== 1)).toEqual([]);
      // The restarted service said that it took over what the killed one left mid-send, and what it found at Twilio.
      expect(app.printed()).toMatch(/An SMS left mid-send by a stopped worker \(lease expired\) was (not )?at Twilio/);
    }, 360_000);
  });

  describeEachDatabase('SIGTERM while a request waits for its message', (kind) => {
    const credentials = testTwilioCredentials();
    let standIn: TwilioStandIn;
    let db: TestDatabase;
    const apps: AppProcess[] = [];

    beforeAll(async () => {
      standIn = await TwilioStandIn.start(credentials);
      db = await createTestDatabase(kind);
    });
    afterAll(async () => {
      for (const app of apps) await app.stop();
      await standIn?.stop();
      await db?.drop();
    });

    it('answers it at once (202, queued, connection closed), exits without waiting SMS_SEND_WAIT_MS, and the message is sent after the restart', async () => {
      const env = { ...baseEnvironment(db.url), ...twilioEnvironment(standIn, credentials.authToken), SMS_SEND_WAIT_MS: '30000' };
      // The first attempt is refused with 429: the request waits for the retry, 8 s later.
      standIn.setBehaviour({ failFirst: 1, failStatus: 429, retryAfterSeconds: 8 });
      let app = await AppProcess.start(env);
      apps.push(app);
      const token = await app.token();
      const started = Date.now();
      const answer = app.json('POST', '/api/sms/send', token, { to: '0612345678', message: 'Bonjour, à demain.' });
      while (standIn.createTimes.length < 1) await new Promise((resolve) => setTimeout(resolve, 20));
      await new Promise((resolve) => setTimeout(resolve, 300));
      const exited = once(app.child, 'exit');
      const terminated = Date.now();
      app.child.kill('SIGTERM');
      const res = await answer;
      const answeredAfter = Date.now() - terminated;
      expect(res.status, JSON.stringify(res.body)).toBe(202);
      expect(res.body).toMatchObject({
        state: 'queued',
        status: 'queued',
        sid: null,
        lastError: expect.objectContaining({ code: expect.any(String) }),
      });
      expect(answeredAfter, 'answered when sending stopped, not after SMS_SEND_WAIT_MS').toBeLessThan(5_000);
      // Its keep-alive connection ends with the answer: the server does not wait for it to time out (72 s).
      expect(res.headers.get('connection')).toBe('close');
      const [code] = await exited;
      expect(code).toBe(0);
      expect(Date.now() - started).toBeLessThan(8_000);
      expect(standIn.messages).toHaveLength(0);

      app = await AppProcess.start(env);
      apps.push(app);
      const again = await app.token();
      let message;
      for (const deadline = Date.now() + 30_000; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 200))) {
        message = (await app.json('GET', `/api/sms/messages/${res.body.id}`, again)).body;
        if (message.providerSid) break;
      }
      expect(message).toMatchObject({ id: res.body.id, providerSid: standIn.messages[0]?.sid });
      expect(standIn.messages.map((m) => m.body)).toEqual(['Bonjour, à demain.']);
    }, 90_000);
  });

  /**
   * A client that sent with an Idempotency-Key and lost its answer (the service died while Twilio was answering) retries
   * with the same key, as the README tells it to. The dead request's claim is taken over once its lease has run out
   * (60 s: aged in the database here); the run that takes it over must find the message the dead one wrote, not write
   * and send a second one.
   */
  describeEachDatabase('SIGKILL while a request with an Idempotency-Key waits for Twilio', (kind) => {
    const credentials = testTwilioCredentials();
    let standIn: TwilioStandIn;
    let db: TestDatabase;
    const apps: AppProcess[] = [];

    beforeAll(async () => {
      standIn = await TwilioStandIn.start(credentials);
      db = await createTestDatabase(kind);
    });
    afterAll(async () => {
      for (const app of apps) await app.stop();
      await standIn?.stop();
      await db?.drop();
    });

    it('the retry with the key after the restart answers the first message, and Twilio gets one', async () => {
      const env = {
        ...baseEnvironment(db.url),
        ...twilioEnvironment(standIn, credentials.authToken),
        TWILIO_TIMEOUT_MS: '5000',
        SMS_LEASE_MS: '6000',
        SMS_POLL_INTERVAL_MS: '200',
        LOG_LEVEL: 'error',
      };
      standIn.setBehaviour({ delayMs: 2000 });
      let app = await AppProcess.start(env);
      apps.push(app);
      const body = { to: '+33612345670', message: 'Votre code de rendez-vous : 4242' };
      const send = (token: string) =>
        fetch(`${app.url}/api/sms/send`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', 'Idempotency-Key': 'order-42' },
          body: JSON.stringify(body),
        });
      const lost = send(await app.token()).catch((error: unknown) => error);
      while (standIn.createTimes.length < 1) await new Promise((resolve) => setTimeout(resolve, 20));
      await app.kill();
      expect(await lost).toBeInstanceOf(Error);
      standIn.setBehaviour({});

      app = await AppProcess.start(env);
      apps.push(app);
      const token = await app.token();
      const claims = await sql(db, `SELECT count(*) AS n FROM idempotency_keys WHERE state = 'running'`);
      expect(Number(claims[0]!.n)).toBe(1);
      await sql(
        db,
        `UPDATE idempotency_keys SET locked_until = ${kind === 'sqlite' ? "'2000-01-01 00:00:00.000'" : "'2000-01-01T00:00:00Z'"}`,
      );

      const retry = await send(token);
      const answer = (await retry.json()) as Record<string, unknown>;
      expect([201, 202], JSON.stringify(answer)).toContain(retry.status);
      expect(retry.headers.get('idempotency-replayed')).toBeNull();
      // The dead request's message is looked up at Twilio once its lease has run out, and found there.
      let message: Record<string, unknown> = {};
      for (const deadline = Date.now() + 30_000; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 200))) {
        message = (await app.json('GET', `/api/sms/messages/${String(answer.id)}`, token)).body;
        if (message.providerSid) break;
      }
      expect(message.providerSid).toBe(standIn.messages[0]?.sid);
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(standIn.messages).toHaveLength(1);
      const rows = await app.json('GET', `/api/sms/messages?phone=${encodeURIComponent(body.to)}`, token);
      expect(rows.body.items).toHaveLength(1);
    }, 120_000);
  });

  /**
   * Two instances share one BullMQ queue and its global concurrency (SMS_MAX_CONCURRENCY slots, counted on BullMQ's
   * active list); one is killed mid-batch. Its active jobs held their slots until BullMQ found their locks gone: with
   * the lock as long as the row's lease (30 s) and BullMQ's 30 s stalled check, the survivor ran on its own share of
   * the slots for 30-60 s (an operator saw 9-29 sends a second instead of 60-100). The job lock is now short (renewed
   * while a job runs) and checked every 2 s, so the slots come back within seconds; the dead instance's rows still wait
   * for their own lease (15 s here, longer than the 10 s the slots may take) and are looked up at Twilio before
   * anything is sent again: every recipient once.
   */
  describe.skipIf(!inject('postgresUrl') || !inject('redisUrl'))('BullMQ: one of two instances killed mid-batch [postgres]', () => {
    const credentials = testTwilioCredentials();
    const queueName = uniqueQueueName();
    let standIn: TwilioStandIn;
    let db: TestDatabase;
    const apps: AppProcess[] = [];

    beforeAll(async () => {
      standIn = await TwilioStandIn.start({ ...credentials, recordRequests: false });
      db = await createTestDatabase('postgres');
    });
    afterAll(async () => {
      for (const app of apps) await app.stop();
      await standIn?.stop();
      await db?.drop();
      await dropQueue(inject('redisUrl'), queueName);
    });

    it("gives the dead instance's share of the global concurrency back within seconds, and sends every recipient once", async () => {
      const env = {
        ...baseEnvironment(db.url),
        ...twilioEnvironment(standIn, credentials.authToken),
        ...dispatchEnvironment('bullmq', inject('redisUrl'), queueName),
        SMS_MAX_CONCURRENCY: '20',
        SMS_MAX_PER_SECOND: '200',
        SMS_LEASE_MS: '15000',
        LOG_LEVEL: 'error',
      };
      // 300 ms a call: the slots are the limit, not the rate (200 a second): 20 slots carry 66 calls a second, 10 only 33.
      standIn.setBehaviour({ delayMs: 300 });
      const [a, b] = await Promise.all([AppProcess.start(env), AppProcess.start(env)]);
      apps.push(a, b);
      // Enough for the batch to outlast the 10 s after the kill at the full 66 calls a second.
      const total = 1300;
      const recipients = Array.from({ length: total }, (_, i) => ({ phone: `+3363${String(i).padStart(7, '0')}`, name: `C${i}` }));
      const accepted = await a.json('POST', '/api/sms/bulk', await a.token(), { recipients, message: 'Bonjour {{name}}' });
      expect(accepted.status).toBe(202);
      const batchId = accepted.body.batchId as string;

      // Both instances in full swing (each holding part of the slots), then one dies.
      while (standIn.createTimes.length < 300) await new Promise((resolve) => setTimeout(resolve, 20));
      await a.kill();
      const killedAt = Date.now();

      const token = await b.token();
      let batch;
      for (const deadline = Date.now() + 150_000; ;) {
        batch = (await b.json('GET', `/api/sms/bulk/${batchId}`, token)).body;
        if (batch.status !== 'running' || Date.now() > deadline) break;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      // Calls started at Twilio (all the survivor's) per second after the kill.
      const started = (from: number, ms: number) => standIn.createTimes.filter((t) => t >= from && t < from + ms).length;
      const seconds = Array.from({ length: 25 }, (_, i) => started(killedAt + i * 1000, 1000)).join(' ');
      // Within 20 s of the kill (under 10 s on a quiet machine; 11 s seen with other suites running) the survivor uses
      // more slots than its own share: at least 90 calls started over 2 s, 45 a second, which its 10 slots cannot carry
      // (33 a second at most) and 20 can (66; on a loaded machine the two instances, PostgreSQL and the test share two
      // cores, and the survivor alone peaked at 50-58 a second). The dead instance's share is back (before, it came
      // back 30-60 s later, the survivor on its own share meanwhile).
      let recovered = -1;
      for (let t = killedAt; t < killedAt + 25_000 && recovered < 0; t += 100) if (started(t, 2000) >= 90) recovered = t - killedAt;
      expect(recovered, `calls a second after the kill: ${seconds}`).toBeGreaterThanOrEqual(0);
      expect(recovered, `calls a second after the kill: ${seconds}`).toBeLessThan(20_000);

      expect(batch.status).toBe('completed');
      const rows: { to: string; status: string; providerSid: string | null }[] = [];
      for (let page = 1; rows.length < total; page++) {
        const res = await b.json('GET', `/api/sms/bulk/${batchId}/messages?page=${page}&limit=200`, token);
        expect(res.status).toBe(200);
        if (!res.body.items.length) break;
        rows.push(...res.body.items);
      }
      expect(rows).toHaveLength(total);
      const atTwilio = new Map<string, string[]>();
      for (const m of standIn.messages) atTwilio.set(m.to, [...(atTwilio.get(m.to) ?? []), m.sid]);
      expect(atTwilio.size).toBe(total);
      for (const [to, sids] of atTwilio) expect(sids, `messages to ${to}`).toHaveLength(1);
      for (const row of rows) expect(row.providerSid, row.to).toBe(atTwilio.get(row.to)?.[0]);
      expect(batch.counts).toMatchObject({ queued: 0, sending: 0, failed: 0 });
    }, 240_000);
  });
});
