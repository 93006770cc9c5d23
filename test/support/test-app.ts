import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { DestinationStream } from 'pino';
import request from 'supertest';
import type TestAgent from 'supertest/lib/agent.js';
import { createApp } from '../../src/app.factory.js';
import { DataSource, IsNull, LessThanOrEqual } from 'typeorm';
import { DomainEventRelay } from '../../src/events/domain-event-relay.js';
import { DISPATCH_QUEUE, type DispatchQueue } from '../../src/sms/dispatch/dispatch-queue.js';
import { SMS_QUEUED, SMS_SENDING, SmsMessage } from '../../src/sms/sms-message.entity.js';
import { Role } from '../../src/users/role.enum.js';
import { createTestDatabase, DatabaseKind, TestDatabase } from './databases.js';

export const ROOT_EMAIL = 'root@example.test';
export const ROOT_PASSWORD = 'root-password-for-tests';
export const USER_PASSWORD = 'a-long-enough-password';

/** Every variable the app reads, set explicitly so nothing leaks in from the machine's environment. */
export function baseEnvironment(databaseUrl: string): Record<string, string> {
  return {
    NODE_ENV: 'test',
    PORT: '0',
    DATABASE_URL: databaseUrl,
    JWT_SECRET: 'test-secret-that-is-at-least-32-characters-long',
    JWT_EXPIRES_IN: '1h',
    ADMIN_EMAIL: ROOT_EMAIL,
    ADMIN_PASSWORD: ROOT_PASSWORD,
    TWILIO_ACCOUNT_SID: '',
    TWILIO_AUTH_TOKEN: '',
    TWILIO_PHONE_NUMBER: '',
    TWILIO_MESSAGING_SERVICE_SID: '',
    TWILIO_API_BASE_URL: '',
    SMS_PROVIDER: '',
    PUBLIC_BASE_URL: '',
    DEFAULT_COUNTRY: 'FR',
    DEFAULT_TIMEZONE: 'Europe/Paris',
    REDIS_URL: '',
    METRICS_TOKEN: '',
    LOG_LEVEL: 'error',
    LOGIN_MAX_ATTEMPTS_PER_IP: '1000',
    QUIET_HOURS: '',
    REMINDERS_ENABLED: 'false',
    EVENT_RELAY_ENABLED: 'true',
    // Off unless a test is about it (test/sms-outage.e2e-spec.ts): a circuit opened by one test's failures would
    // hold the next test's messages in the same app.
    SMS_CIRCUIT_RESET_MS: '0',
    // Off unless a test is about it (test/sms-outage.e2e-spec.ts): tests count the attempts a failing message makes.
    SMS_OUTAGE_RETRY_MS: '0',
    // Passwords hashed at a token cost (about a millisecond instead of a quarter second of two cores): the suite
    // signs in and creates users hundreds of times. test/auth.e2e-spec.ts signs in at the default cost.
    PASSWORD_HASH_MEMORY_KIB: '256',
    PASSWORD_HASH_ITERATIONS: '1',
  };
}

/** The real application over HTTP on a fresh database. */
export class TestApp {
  private tokens = new Map<string, string>();

  private constructor(
    readonly app: NestFastifyApplication,
    readonly db: TestDatabase,
    private readonly ownsDatabase: boolean,
  ) {}

  /** `options.logDestination`: the app's JSON log lines go there, at LOG_LEVEL (else only fatal lines, to stdout). */
  static async start(
    kind: DatabaseKind,
    overrides: Record<string, string> = {},
    shared?: TestDatabase,
    options: { logDestination?: DestinationStream } = {},
  ): Promise<TestApp> {
    const db = shared ?? (await createTestDatabase(kind));
    const app = await createApp({
      overrides: { ...baseEnvironment(db.url), ...overrides },
      ignoreEnvFile: true,
      ...(options.logDestination ? { logDestination: options.logDestination } : { logger: ['fatal'] }),
    });
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
    return new TestApp(app, db, !shared);
  }

  get http(): TestAgent {
    return request(this.app.getHttpServer());
  }

  get<T>(token: abstract new (...args: never[]) => T): T {
    return this.app.get(token as never) as T;
  }

  async login(email: string, password: string): Promise<string> {
    const key = `${email}\n${password}`;
    const cached = this.tokens.get(key);
    if (cached) return cached;
    const res = await this.http.post('/api/auth/login').send({ email, password });
    if (res.status !== 200) throw new Error(`login ${email} failed: ${res.status} ${JSON.stringify(res.body)}`);
    this.tokens.set(key, res.body.access_token);
    return res.body.access_token;
  }

  rootToken(): Promise<string> {
    return this.login(ROOT_EMAIL, ROOT_PASSWORD);
  }

  /** Creates a user with this role (as the superadmin) and returns its id and token. */
  async userWithRole(
    role: Role,
    email = `${role}-${Math.random().toString(36).slice(2, 8)}@example.test`,
  ): Promise<{ id: string; email: string; token: string }> {
    const res = await this.http
      .post('/api/users')
      .set('Authorization', `Bearer ${await this.rootToken()}`)
      .send({ email, password: USER_PASSWORD, role });
    if (res.status !== 201) throw new Error(`create ${role} failed: ${res.status} ${JSON.stringify(res.body)}`);
    return { id: res.body.id, email, token: await this.login(email, USER_PASSWORD) };
  }

  /**
   * Waits until this instance's event relay has delivered every due event, the SMS they asked for have
   * been dispatched (no row sending, none due: the relay only writes them), and the events their outcome
   * raised (`sms.message.updated`) have been delivered in turn.
   */
  async settle(timeoutMs = 20_000): Promise<void> {
    const relay = this.get(DomainEventRelay);
    const queue = this.app.get<DispatchQueue>(DISPATCH_QUEUE);
    const messages = this.get(DataSource).getRepository(SmsMessage);
    const until = Date.now() + timeoutMs;
    for (;;) {
      await relay.drain();
      await queue.idle?.();
      const busy = await messages.count({
        where: [{ status: SMS_SENDING }, { status: SMS_QUEUED, providerSid: IsNull(), notBefore: LessThanOrEqual(new Date()) }],
      });
      if (!busy) {
        await relay.drain();
        return;
      }
      if (Date.now() > until) throw new Error(`${busy} SMS still due or sending after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async close(): Promise<void> {
    await this.app.close();
    if (this.ownsDatabase) await this.db.drop();
  }
}

/** The app's Twilio settings pointing at a running stand-in. */
export function twilioEnvironment(standIn: { baseUrl: string; accountSid: string }, authToken: string): Record<string, string> {
  return {
    TWILIO_ACCOUNT_SID: standIn.accountSid,
    TWILIO_AUTH_TOKEN: authToken,
    TWILIO_PHONE_NUMBER: '+33700000000',
    TWILIO_API_BASE_URL: standIn.baseUrl,
    TWILIO_TIMEOUT_MS: '1500',
  };
}
