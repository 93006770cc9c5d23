import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { DataSource } from 'typeorm';
import { inject } from 'vitest';

import { getQueueToken } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { RedisBootWait } from '../src/redis/redis.module.js';
import { DISPATCH_QUEUE, type DispatchQueue } from '../src/sms/dispatch/dispatch-queue.js';
import { QUEUE_COMMAND_TIMEOUT_MS } from '../src/sms/dispatch/bullmq-dispatch-queue.js';
import { SMS_DISPATCH_QUEUE } from '../src/sms/dispatch/sms-bullmq.module.js';
import { SmsKind, SmsMessage } from '../src/sms/sms-message.entity.js';
import { describeEachDatabase } from './support/databases.js';
import { freePort } from './support/free-port.js';
import { LogCapture } from './support/log-capture.js';
import { silentServer } from './support/silent-server.js';
import { freezableRelay } from './support/tcp-relay.js';
import { ROOT_EMAIL, ROOT_PASSWORD, TestApp, twilioEnvironment } from './support/test-app.js';
import { testTwilioCredentials, TwilioStandIn } from './support/twilio-stand-in.js';

const REDIS_SERVER = '/usr/bin/redis-server';

/** A port nothing listens on (taken from the system, then released). */
/** A real, empty redis-server on `port`, child of this process (no persistence). */
function startRedis(port: number): ChildProcess {
  const child = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  child.on('error', () => undefined);
  return child;
}

async function stopRedis(child: ChildProcess | null): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

/**
 * With REDIS_URL, Redis is a dependency of the dispatcher, not of the app: the app boots while Redis is down,
 * says so on /ready, keeps writing SMS rows (the truth), and sends them once Redis answers — at boot and after
 * an outage. Runs a real redis-server on a port of its own, started and killed by the test.
 */
describe('Without REDIS_URL', () => {
  it('registers nothing of BullMQ and dispatches in-process', async () => {
    const t = await TestApp.start('sqlite');
    try {
      expect(() => t.app.get(getQueueToken(SMS_DISPATCH_QUEUE), { strict: false })).toThrow();
      expect(t.app.get<DispatchQueue>(DISPATCH_QUEUE).kind).toBe('inline');
    } finally {
      await t.close();
    }
  });
});

/**
 * A Redis that accepts connections and never answers (a frozen server, a network that drops packets): the boot waits
 * for it once (RedisBootWait: 2 s in all, not 2 s per waiter), and the shutdown does not wait for its QUIT for ever.
 * Before, the boot took two waits and `app.close()` (SIGTERM) never returned.
 */
describe('Redis silent', () => {
  it('boots without it, sends SMS in the meantime as rows, and closes', async () => {
    const server = await silentServer();
    try {
      const started = Date.now();
      const t = await TestApp.start('sqlite', {
        REDIS_URL: `redis://127.0.0.1:${server.port}`,
        SMS_QUEUE_NAME: `silent-${randomBytes(6).toString('hex')}`,
        SMS_PROVIDER: 'dry-run',
        SMS_SEND_WAIT_MS: '300',
      });
      const bootMs = Date.now() - started;
      console.log(`[redis-silent] boot ${bootMs} ms with a Redis that never answers`);
      expect(server.accepted, 'the app did connect to it').toBeGreaterThan(0);
      // One boot allowance for both waiters (the shared client's and BullMQ's): not 2 s each.
      const bootWait = t.app.get(RedisBootWait);
      expect((t.app.get(DISPATCH_QUEUE) as unknown as { bootWait: RedisBootWait }).bootWait).toBe(bootWait);
      // Sign-in (its throttle counts in memory while Redis is not ready) and a send (its row written) do not hang.
      const root = await t.rootToken();
      const sent = await t.http.post('/api/sms/send').set('Authorization', `Bearer ${root}`).send({ to: '0612345678', message: 'Bonjour' });
      expect(sent.status).toBe(202);
      expect(sent.body).toMatchObject({ state: 'queued', sid: null });
      const closing = Date.now();
      const closed = await Promise.race([
        t.close().then(() => true),
        new Promise<false>((resolve) => setTimeout(() => resolve(false), 20_000)),
      ]);
      expect(closed, 'app.close() returned').toBe(true);
      console.log(`[redis-silent] closed in ${Date.now() - closing} ms`);
    } finally {
      await server.close();
    }
  }, 60_000);
});

/** The Redis the relays forward to. */
const redisTarget = () => new URL(inject('redisUrl')!);

/** Resolves with `work`'s result, or 'hung' after `ms`. */
const within = <T>(ms: number, work: Promise<T>) =>
  Promise.race([work, new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), ms))]);

/**
 * Runs `scenario` against an app whose Redis goes through `relay` (its own key prefix and queue, the dry-run
 * provider, `env` on top), then checks that `app.close()` (what SIGTERM runs) returns within 25 s and logs no error;
 * the relay is stopped in the end.
 */
async function whileRelayed<R extends { url: string; stop(): Promise<void> }>(
  name: string,
  relay: R,
  scenario: (t: TestApp, relay: R, auth: Record<string, string>) => Promise<void>,
  env: Record<string, string> = {},
) {
  const unique = randomBytes(6).toString('hex');
  let t: TestApp | null = null;
  const logs = new LogCapture();
  try {
    t = await TestApp.start(
      'sqlite',
      {
        REDIS_URL: relay.url,
        REDIS_KEY_PREFIX: `${name}-${unique}:`,
        SMS_QUEUE_NAME: `${name}-${unique}`,
        SMS_PROVIDER: 'dry-run',
        SMS_SEND_WAIT_MS: '300',
        SMS_USER_MAX_PER_MINUTE: '100',
        // A sweep every second (5 polls).
        SMS_POLL_INTERVAL_MS: '200',
        ...env,
      },
      undefined,
      { logDestination: logs },
    );
    await scenario(t, relay, { Authorization: `Bearer ${await t.rootToken()}` });
    const closing = logs.raw.length;
    const closed = await within(
      25_000,
      t.close().then(() => 'closed'),
    );
    t = null;
    expect(closed).toBe('closed');
    // A QUIT left unanswered is expected here, not an error (`@nestjs/bullmq` logged a failed queue close as one).
    const errors = logs.lines.slice(closing).filter((line) => Number(line.level) >= 50);
    expect(errors.map((line) => line.msg)).toEqual([]);
  } finally {
    await relay.stop();
    if (t)
      await within(
        5_000,
        t.close().catch(() => undefined),
      );
  }
}

/**
 * Redis hangs after the boot (connections open, nothing answered): a command of the shared client fails after 1 s
 * (REDIS_COMMAND_TIMEOUT_MS), so sign-in and the sending limits count in memory instead of waiting minutes for TCP
 * to give up; readiness names Redis; the shutdown drops BullMQ's and the shared client's connections after a bound.
 */
describe('Redis hangs after boot', () => {
  it.skipIf(!inject('redisUrl'))(
    'answers sign-in and sends, says not ready, and still shuts down',
    async () =>
      whileRelayed('hang', await freezableRelay(redisTarget(), 6379), async (t, relay, auth) => {
        const before = await t.http.post('/api/sms/send').set(auth).send({ to: '0612345678', message: 'Bonjour' });
        // Sent through BullMQ, or still on its way on a slow machine: stored either way.
        expect([201, 202]).toContain(before.status);

        relay.freeze();
        const signIn = await within(10_000, t.http.post('/api/auth/login').send({ email: ROOT_EMAIL, password: ROOT_PASSWORD }));
        expect(signIn === 'hung' ? 'hung' : signIn.status).toBe(200);
        const sent = await within(10_000, t.http.post('/api/sms/send').set(auth).send({ to: '0612345679', message: 'Bonjour' }));
        expect(sent === 'hung' ? 'hung' : sent.status).toBe(202);
        const ready = await t.http.get('/api/health/ready');
        expect(ready.status).toBe(503);
        expect(JSON.stringify(ready.body)).toContain('redis');
        // A scrape does not wait on BullMQ's exporter (the queue connection's command timeout): the app's own figures.
        const scrape = await within(10_000, t.http.get('/api/metrics').set(auth));
        expect(scrape === 'hung' ? 'hung' : scrape.status).toBe(200);
        if (scrape !== 'hung') expect(scrape.text).toContain('sms_queue_depth');

        // A backlog written meanwhile (1,500 rows due): each sweep asks Redis once (a PING that times out), instead of
        // handing it a thousand jobs that would each wait in ioredis's memory for an answer, sweep after sweep.
        const now = new Date();
        const rows = Array.from({ length: 1500 }, (_, i) =>
          Object.assign(new SmsMessage(), {
            id: randomUUID(),
            to: `+3361${String(4_000_000 + i).padStart(7, '0')}`,
            from: '+33700000000',
            body: 'Bonjour',
            kind: SmsKind.Single,
            provider: 'dry-run',
            segments: 1,
            encoding: 'GSM-7',
            status: 'queued',
            attempts: 0,
            notBefore: now,
            createdAt: now,
            updatedAt: now,
          }),
        );
        for (let i = 0; i < rows.length; i += 250)
          await t
            .get(DataSource)
            .getRepository(SmsMessage)
            .insert(rows.slice(i, i + 250));
        await new Promise((resolve) => setTimeout(resolve, QUEUE_COMMAND_TIMEOUT_MS + 2500));
        const queueClient = (t.app.get(DISPATCH_QUEUE) as unknown as { client: { commandQueue: { length: number } } }).client;
        expect(queueClient.commandQueue.length).toBeLessThan(100);
      }),
    60_000,
  );
});

/**
 * A TCP relay to Redis that holds, on each connection, the chunk carrying the `nth` occurrence of the RESP argument
 * `argument` for `holdMs` (Infinity: for ever) before passing it on, then everything that followed, in order: Redis
 * stalls at one precise command.
 */
async function holdingRelay(target: URL, argument: string, nth: number, holdMs: number) {
  const sockets = new Set<net.Socket>();
  const needle = new RegExp(`\\$${argument.length}\\r\\n${argument}\\r\\n`, 'gi');
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port || 6379), target.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => sockets.delete(socket));
    }
    upstream.pipe(client);
    let seen = 0;
    let forwarding = Promise.resolve();
    client.on('data', (chunk: Buffer) => {
      const before = seen;
      seen += chunk.toString('latin1').match(needle)?.length ?? 0;
      const hold = before < nth && seen >= nth;
      forwarding = forwarding
        .then(() => (hold ? new Promise((resolve) => Number.isFinite(holdMs) && setTimeout(resolve, holdMs)) : undefined))
        .then(() => void upstream.write(chunk));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `redis://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    async stop() {
      for (const socket of sockets) socket.destroy();
      if (server.listening) await new Promise((resolve) => server.close(resolve));
    },
  };
}

/**
 * Redis stalls for longer than the queue's command timeout (QUEUE_COMMAND_TIMEOUT_MS) just as BullMQ first connects:
 * BullMQ checks the server once and never again, so a timeout there left its queue failing until a restart. The
 * timeout is set only once the queue is connected: the dispatcher comes up when Redis answers and sends.
 */
describe('Redis stalls while BullMQ connects', () => {
  it.skipIf(!inject('redisUrl'))(
    'the dispatcher comes up once Redis answers, and sends',
    async () =>
      whileRelayed(
        'stall',
        // The second INFO of each connection: BullMQ's own check, after ioredis's ready check.
        await holdingRelay(redisTarget(), 'info', 2, QUEUE_COMMAND_TIMEOUT_MS + 2000),
        async (t, _relay, auth) => {
          await vi.waitFor(async () => expect((await t.http.get('/api/health/ready')).status).toBe(200), {
            timeout: 20_000,
            interval: 250,
          });
          const sent = await t.http.post('/api/sms/send').set(auth).send({ to: '0612345678', message: 'Bonjour' });
          expect(sent.status).toBe(201);
        },
        { SMS_SEND_WAIT_MS: '10000' },
      ),
    60_000,
  );
});

/**
 * Redis goes silent right after BullMQ's readiness, while the dispatcher sets its global concurrency: that command
 * times out (the queue's command timeout is set before it), and the shutdown drops the silent connection. Before, the
 * command waited for ever and the shutdown's QUIT behind it too, so `app.close()` (SIGTERM) never returned.
 */
describe('Redis goes silent while the dispatcher sets its limit', () => {
  it.skipIf(!inject('redisUrl'))(
    'the app still shuts down',
    async () =>
      whileRelayed('limit', await holdingRelay(redisTarget(), 'concurrency', 1, Infinity), async (t) => {
        expect((await t.http.get('/api/health/ready')).status).toBe(503);
      }),
    60_000,
  );
});

/**
 * Redis refuses connections after the boot, an SMS written meanwhile: its job is not handed to ioredis's offline
 * queue (the sweep queues it once Redis answers), and the shutdown does not wait for ever for connections that
 * ioredis never reports ended while it reconnects.
 */
describe('Redis refuses after boot', () => {
  it.skipIf(!inject('redisUrl'))(
    'stores the SMS and still shuts down',
    async () =>
      whileRelayed('refuse', await freezableRelay(redisTarget(), 6379), async (t, relay, auth) => {
        await relay.stop();
        for (let i = 0; i < 3; i++) {
          const sent = await within(
            10_000,
            t.http
              .post('/api/sms/send')
              .set(auth)
              .send({ to: `061234567${i}`, message: 'Bonjour' }),
          );
          expect(sent === 'hung' ? 'hung' : sent.status).toBe(202);
        }
      }),
    60_000,
  );
});

describeEachDatabase('Redis down', (kind) => {
  const credentials = testTwilioCredentials();
  const unique = randomBytes(6).toString('hex');
  let standIn: TwilioStandIn;
  let t: TestApp | null = null;
  let redis: ChildProcess | null = null;

  beforeAll(async () => {
    standIn = await TwilioStandIn.start(credentials);
  });
  afterAll(async () => {
    if (t) await Promise.race([t.close().catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 15_000))]);
    await stopRedis(redis);
    await standIn?.stop();
  });

  it.skipIf(!existsSync(REDIS_SERVER))(
    'boots without Redis (live 200, ready 503 naming it), keeps accepting SMS, and sends them once Redis is up; again after an outage',
    async () => {
      const port = await freePort();
      const bootStarted = Date.now();
      t = await TestApp.start(kind, {
        ...twilioEnvironment(standIn, credentials.authToken),
        REDIS_URL: `redis://127.0.0.1:${port}`,
        REDIS_KEY_PREFIX: `outage-${unique}:`,
        SMS_QUEUE_NAME: `outage-${unique}`,
        SMS_SEND_WAIT_MS: '300',
        SMS_POLL_INTERVAL_MS: '200',
        // Limits kept in Redis fall back to memory at once while it is away (rate-limiter-flexible's insurance).
        SMS_USER_MAX_PER_MINUTE: '50',
      });
      const bootMs = Date.now() - bootStarted;
      expect(bootMs).toBeLessThan(15_000);
      const auth = { Authorization: `Bearer ${await t.rootToken()}` };

      await t.http.get('/api/health/live').expect(200);
      const down = await t.http.get('/api/health/ready').expect(503);
      expect(down.body.failing).toEqual(expect.arrayContaining(['redis', 'dispatcher']));
      expect(down.body.checks.dispatcher).toEqual({ status: 'down', message: expect.stringMatching(/waiting for Redis/) });
      expect(down.body.checks.database.status).toBe('up');

      // Rows are written; nothing leaves while Redis is away.
      const single = await t.http.post('/api/sms/send').set(auth).send({ to: '0612345678', message: 'Sans Redis' }).expect(202);
      expect(single.body).toMatchObject({ state: 'queued', sid: null });
      const bulk = await t.http
        .post('/api/sms/bulk')
        .set(auth)
        .send({ recipients: [{ phone: '0611111111' }, { phone: '0622222222' }], message: 'Lot sans Redis' })
        .expect(202);
      expect(bulk.body).toMatchObject({ total: 2, queued: 2 });
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(standIn.messages).toHaveLength(0);

      // Redis comes up: the dispatcher connects by itself, ready turns 200, the three SMS go out once each.
      redis = startRedis(port);
      const upStarted = Date.now();
      await vi.waitFor(() => t!.http.get('/api/health/ready').expect(200), { timeout: 20_000, interval: 200 });
      const readyAfterMs = Date.now() - upStarted;
      await vi.waitFor(() => expect(standIn.messages).toHaveLength(3), { timeout: 20_000, interval: 100 });
      const sentAfterMs = Date.now() - upStarted;
      expect(standIn.messages.map((m) => m.to).sort()).toEqual(['+33611111111', '+33612345678', '+33622222222']);
      const ready = await t.http.get('/api/health/ready').expect(200);
      expect(ready.body.checks).toMatchObject({
        redis: { status: 'up' },
        dispatcher: { status: 'up', detail: `bullmq, queue outage-${unique}` },
      });
      console.info(
        `[redis-outage ${kind}] boot ${bootMs} ms with Redis down; ready ${readyAfterMs} ms and 3 SMS sent ${sentAfterMs} ms after Redis started`,
      );

      // Redis goes away after boot: ready 503 again, rows still written; back (empty): sent, once.
      await stopRedis(redis);
      redis = null;
      await vi.waitFor(
        async () => {
          const res = await t!.http.get('/api/health/ready').expect(503);
          expect(res.body.failing).toEqual(expect.arrayContaining(['redis', 'dispatcher']));
        },
        { timeout: 10_000, interval: 200 },
      );
      await t.http.get('/api/health/live').expect(200);
      // Neither a sign-in (its throttle, cleared on success) nor a send (the per-user limit) waits for Redis to return:
      // they waited for ioredis's reconnection attempts, 6 s for a send and 12 s for a sign-in.
      const signInStarted = Date.now();
      await t.http.post('/api/auth/login').send({ email: ROOT_EMAIL, password: ROOT_PASSWORD }).expect(200);
      const signInMs = Date.now() - signInStarted;
      const laterStarted = Date.now();
      const sendAt = new Date(Date.now() + 3_600_000).toISOString();
      await t.http.post('/api/sms/send').set(auth).send({ to: '0644444444', message: 'Plus tard', sendAt }).expect(202);
      const laterMs = Date.now() - laterStarted;
      expect(signInMs, 'sign-in during the outage (ms)').toBeLessThan(4000);
      expect(laterMs, 'send during the outage (ms)').toBeLessThan(4000);
      const during = await t.http.post('/api/sms/send').set(auth).send({ to: '0633333333', message: 'Pendant la panne' });
      expect(during.status).toBe(202);
      redis = startRedis(port);
      await vi.waitFor(() => t!.http.get('/api/health/ready').expect(200), { timeout: 20_000, interval: 200 });
      await vi.waitFor(() => expect(standIn.messages).toHaveLength(4), { timeout: 20_000, interval: 100 });
      expect(standIn.messages[3].to).toBe('+33633333333');
      const stored = await t.http.get(`/api/sms/messages/${during.body.id}`).set(auth).expect(200);
      expect(stored.body).toMatchObject({ providerSid: standIn.messages[3].sid, attempts: 1 });
      // Nothing is sent twice once everything settled (the sweep runs every second).
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect(standIn.messages).toHaveLength(4);
    },
    120_000,
  );
});

/**
 * BullMQ keeps the global concurrency (SMS_MAX_CONCURRENCY for all instances) in the queue's meta key: a FLUSHALL, or an
 * eviction under a maxmemory policy other than noeviction, removes it without any reconnection. Each worker then ran
 * its own concurrency (the limit times the instances), for good. The sweep sets it again.
 */
describe('Redis emptied without a reconnection', () => {
  it.skipIf(!existsSync(REDIS_SERVER))(
    'sets the global concurrency again within a sweep',
    async () => {
      const port = await freePort();
      const redis = startRedis(port);
      let t: TestApp | null = null;
      const client = new Redis({ port, host: '127.0.0.1', retryStrategy: () => 100 });
      client.on('error', () => undefined);
      try {
        await vi.waitFor(() => client.ping(), { timeout: 10_000, interval: 100 });
        const unique = randomBytes(6).toString('hex');
        t = await TestApp.start('sqlite', {
          REDIS_URL: `redis://127.0.0.1:${port}`,
          SMS_QUEUE_NAME: `flushed-${unique}`,
          SMS_PROVIDER: 'dry-run',
          SMS_MAX_CONCURRENCY: '3',
          SMS_POLL_INTERVAL_MS: '200',
        });
        const queue = t.app.get<Queue>(getQueueToken(SMS_DISPATCH_QUEUE));
        await vi.waitFor(async () => expect(await queue.getGlobalConcurrency()).toBe(3), { timeout: 10_000, interval: 100 });
        await client.flushall();
        expect(await queue.getGlobalConcurrency()).toBeNull();
        await vi.waitFor(async () => expect(await queue.getGlobalConcurrency()).toBe(3), { timeout: 5_000, interval: 100 });
      } finally {
        if (t) await t.close();
        client.disconnect();
        await stopRedis(redis);
      }
    },
    60_000,
  );
});
