import { DataSource } from 'typeorm';
import { inject, vi } from 'vitest';
import { SmsMessage } from '../src/sms/sms-message.entity.js';
import { describeEachDatabase } from './support/databases.js';
import { startDispatchApp, waitForBatch, type DispatchApp, type DispatchMode } from './support/dispatch.js';
import { TestApp } from './support/test-app.js';
import { TWILIO_MAGIC_FROM_QUEUE_FULL, type TwilioStandIn } from './support/twilio-stand-in.js';

const redisUrl = inject('redisUrl');
const MODES: DispatchMode[] = ['inline', 'bullmq'];
const RESET_MS = 1500;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const recipients = (n: number) => Array.from({ length: n }, (_, i) => ({ phone: `+3361234${String(i).padStart(4, '0')}` }));

/**
 * Twilio's bad day: while it fails every call, the circuit (ProviderCircuit) stops calling it, so messages keep
 * their attempts and all leave once it answers again, each once. Without the circuit, 3 attempts 20–100 ms apart
 * would fail every message of the batch within a second.
 */
describeEachDatabase('Twilio outage', (kind) => {
  describe.each(MODES)('%s', (mode) => {
    const skip = mode === 'bullmq' && !redisUrl;
    let setup: DispatchApp | undefined;
    let standIn: TwilioStandIn;
    let t: TestApp;
    let root: string;
    const auth = () => ({ Authorization: `Bearer ${root}` });
    const posts = () => standIn.requests.filter((r) => r.method === 'POST').length;
    const circuitState = async () => {
      const res = await t.http.get('/api/metrics').set(auth()).expect(200);
      const open = /^sms_provider_circuit_state\{state="(\w+)"\} 1$/m.exec(res.text);
      return open?.[1];
    };

    beforeAll(async () => {
      if (skip) return;
      setup = await startDispatchApp(kind, {
        mode,
        env: {
          SMS_CIRCUIT_RESET_MS: String(RESET_MS),
          SMS_MAX_ATTEMPTS: '3',
          SMS_RETRY_BASE_MS: '20',
          SMS_RETRY_MAX_MS: '100',
          SMS_SEND_WAIT_MS: '1000',
          SMS_MAX_CONCURRENCY: '5',
          SMS_MAX_PER_SECOND: '200',
          SMS_POLL_INTERVAL_MS: '100',
        },
      });
      ({ standIn, t } = setup);
      root = await t.rootToken();
    });
    afterAll(() => setup?.close());

    it.skipIf(skip)(
      'stops calling Twilio while it is down, keeps every message, and sends each once when it is back',
      async () => {
        standIn.setBehaviour({ failRate: 1, failStatus: 503 });
        const outageStarted = Date.now();
        const batch = await t.http
          .post('/api/sms/bulk')
          .set(auth())
          .send({ recipients: recipients(40), message: 'Votre rendez-vous est confirmé' })
          .expect(202);
        // A single send meanwhile waits with the others: 202 queued, not a failure.
        const single = await t.http.post('/api/sms/send').set(auth()).send({ to: '+33698765432', message: 'Bonjour' }).expect(202);
        expect(single.body).toMatchObject({ state: 'queued', status: 'queued' });
        await vi.waitFor(async () => expect(await circuitState()).toBe('open'), { timeout: 5_000, interval: 50 });
        // A send while the circuit is open has made no call: its 202 says why it waits.
        const paused = await t.http
          .post('/api/sms/send')
          .set(auth())
          .set('Accept-Language', 'en')
          .send({ to: '+33698765433', message: 'Bonjour' })
          .expect(202);
        expect(paused.body).toMatchObject({
          state: 'queued',
          attempts: 0,
          lastError: { code: 'PROVIDER_PAUSED', explanation: expect.stringMatching(/^Twilio looks down/) },
        });
        expect(paused.body.lastError.message).toMatch(/^Twilio looks down: sends are paused until \d{4}-/);
        // At least one pause and its failed probe.
        await sleep(RESET_MS + 500);
        const duringOutage = posts();
        const pauses = Math.ceil((Date.now() - outageStarted) / RESET_MS);
        // The calls that opened the circuit (10) and those already in flight (5 at most), then one probe per pause.
        expect(duringOutage).toBeGreaterThanOrEqual(10);
        expect(duringOutage).toBeLessThanOrEqual(15 + pauses);
        const listed = await t.http.get('/api/sms/messages?status=failed').set(auth()).expect(200);
        expect(listed.body.total).toBe(0);

        standIn.setBehaviour({});
        const ended = await waitForBatch(t, root, batch.body.batchId, 30_000);
        expect(ended.counts).toMatchObject({ sent: 40, failed: 0 });
        const delivered = standIn.messages.map((m) => m.to);
        for (let i = 0; i < 50 && !(delivered.includes('+33698765432') && delivered.includes('+33698765433')); i++) {
          await sleep(100);
          delivered.splice(0, delivered.length, ...standIn.messages.map((m) => m.to));
        }
        expect(delivered).toHaveLength(42);
        expect(new Set(delivered).size).toBe(42);
        expect(await circuitState()).toBe('closed');
      },
      60_000,
    );
  });
});

/**
 * Two instances share SMS_MAX_PER_SECOND (BullMQ spreads it): at 1 a second each sees about 5 calls in the circuit's
 * 10 s window, under the 10 its own circuit needs, so neither ever opened while Twilio was down, and every message kept
 * failing at the full rate until SMS_OUTAGE_RETRY_MS. Counted together in Redis (SharedOutageWindow), they pause together.
 */
describe('Twilio outage seen by two instances sharing a low rate', () => {
  let setup: DispatchApp | undefined;
  let second: TestApp | undefined;

  afterAll(async () => {
    await second?.close();
    await setup?.close();
  });

  it.skipIf(!redisUrl)(
    'pauses both instances once their calls together failed, and keeps every message',
    async () => {
      setup = await startDispatchApp('sqlite', {
        mode: 'bullmq',
        env: {
          SMS_CIRCUIT_RESET_MS: '60000',
          SMS_MAX_PER_SECOND: '1',
          SMS_MAX_ATTEMPTS: '3',
          SMS_RETRY_BASE_MS: '20',
          SMS_RETRY_MAX_MS: '100',
          SMS_POLL_INTERVAL_MS: '100',
          SMS_SEND_WAIT_MS: '300',
        },
      });
      second = await TestApp.start('sqlite', setup.env, setup.t.db);
      const { standIn, t } = setup;
      const root = await t.rootToken();
      const posts = () => standIn.requests.filter((r) => r.method === 'POST').length;
      const circuitState = async (app: TestApp) => {
        const res = await app.http
          .get('/api/metrics')
          .set({ Authorization: `Bearer ${root}` })
          .expect(200);
        return /^sms_provider_circuit_state\{state="(\w+)"\} 1$/m.exec(res.text)?.[1];
      };
      standIn.setBehaviour({ failRate: 1, failStatus: 503 });
      await t.http
        .post('/api/sms/bulk')
        .set({ Authorization: `Bearer ${root}` })
        .send({ recipients: recipients(14), message: 'Votre rendez-vous est confirmé' })
        .expect(202);
      await vi.waitFor(async () => expect([await circuitState(t), await circuitState(second!)]).toEqual(['open', 'open']), {
        timeout: 25_000,
        interval: 200,
      });
      // No call once paused (one already under way may still end), and nothing failed: the messages wait.
      const atPause = posts();
      await sleep(2_500);
      expect(posts()).toBeLessThanOrEqual(atPause + 1);
      const failed = await t.http
        .get('/api/sms/messages?status=failed')
        .set({ Authorization: `Bearer ${root}` })
        .expect(200);
      expect(failed.body.total).toBe(0);
    },
    60_000,
  );
});

/**
 * A lone message during an outage: its few calls never open the circuit, so its attempts are used up within a
 * second here; SMS_OUTAGE_RETRY_MS keeps it retried while Twilio is down, until that long after its first attempt.
 */
describeEachDatabase('Twilio outage, one message', (kind) => {
  describe.each(MODES)('%s', (mode) => {
    const skip = mode === 'bullmq' && !redisUrl;
    let setup: DispatchApp | undefined;
    let standIn: TwilioStandIn;
    let t: TestApp;
    let root: string;
    const auth = () => ({ Authorization: `Bearer ${root}` });
    const posts = () => standIn.requests.filter((r) => r.method === 'POST').length;
    const send = async (to: string) => {
      const res = await t.http.post('/api/sms/send').set(auth()).send({ to, message: 'Bonjour' });
      // 202 while it is still being retried (SMS_SEND_WAIT_MS); 201 if it was already sent.
      expect([201, 202]).toContain(res.status);
      return res.body.id as string;
    };
    const message = async (id: string) => (await t.http.get(`/api/sms/messages/${id}`).set(auth()).expect(200)).body;
    const settled = (id: string, timeout: number) =>
      vi.waitFor(
        async () => {
          const body = await message(id);
          expect(body.providerSid !== null || body.status === 'failed').toBe(true);
          return body;
        },
        { timeout, interval: 100 },
      );

    beforeAll(async () => {
      if (skip) return;
      setup = await startDispatchApp(kind, {
        mode,
        env: {
          SMS_OUTAGE_RETRY_MS: '60000',
          SMS_MAX_ATTEMPTS: '2',
          SMS_RETRY_BASE_MS: '50',
          SMS_RETRY_MAX_MS: '200',
          SMS_SEND_WAIT_MS: '300',
          SMS_POLL_INTERVAL_MS: '100',
        },
      });
      ({ standIn, t } = setup);
      root = await t.rootToken();
    });
    afterAll(() => setup?.close());
    beforeEach(() => standIn?.reset());

    it.skipIf(skip)(
      'goes on past SMS_MAX_ATTEMPTS while Twilio fails with 500s (no Retry-After: retried within 200 ms), and is sent once when it answers',
      async () => {
        standIn.setBehaviour({ failFirst: 6, failStatus: 500 });
        const id = await send('+33698765401');
        const body = await settled(id, 10_000);
        expect(body).toMatchObject({ providerSid: expect.stringMatching(/^SM/), attempts: 7, errorCode: null });
        expect(body.firstAttemptAt).toEqual(expect.any(String));
        expect(Date.parse(body.firstAttemptAt)).toBeGreaterThanOrEqual(Date.parse(body.createdAt));
        expect(Date.parse(body.firstAttemptAt)).toBeLessThan(Date.parse(body.lastAttemptAt));
        expect(posts()).toBe(7);
        expect(standIn.messages.map((m) => m.to)).toEqual(['+33698765401']);
      },
    );

    it.skipIf(skip)(
      'a lost reply whose look-ups Twilio answers 429 twice, then finds it: sent with its SID, no attempt used by the look-ups, one message at Twilio',
      async () => {
        // Twilio takes the message and the reply is lost (CONNECTION_LOST); the look-ups (a TWILIO_TIMEOUT_MS later)
        // are rate limited twice, then answered. Before, each look-up used an attempt: the second (of 2) failed the row.
        standIn.setBehaviour({ dropReplyRate: 1 });
        const id = await send('+33698765403');
        await vi.waitFor(() => expect(standIn.droppedReplies).toBe(1), { timeout: 5_000, interval: 20 });
        standIn.setBehaviour({ failFirst: 2, failStatus: 429, retryAfterSeconds: 1 });
        const body = await settled(id, 20_000);
        const lookUps = standIn.requests.filter((r) => r.method === 'GET' && r.path.endsWith('/Messages.json'));
        expect(lookUps).toHaveLength(3);
        expect(standIn.messages).toHaveLength(1);
        // Two attempts: the send, and the look-up that found it (the rate-limited ones gave their claim back). Stored
        // with the status the look-up saw: Twilio has sent it by then.
        expect(body).toMatchObject({ status: 'sent', providerSid: standIn.messages[0].sid, errorCode: null, attempts: 2 });
        expect(posts()).toBe(1);
      },
      30_000,
    );

    it.skipIf(skip)('fails once the outage has lasted SMS_OUTAGE_RETRY_MS from its first attempt', async () => {
      standIn.setBehaviour({ failRate: 1, failStatus: 500 });
      const id = await send('+33698765402');
      // Past its 2 attempts and still retried...
      await vi.waitFor(async () => expect((await message(id)).attempts).toBeGreaterThanOrEqual(4), { timeout: 10_000, interval: 50 });
      expect((await message(id)).status).not.toBe('failed');
      // ...until its first attempt is SMS_OUTAGE_RETRY_MS (a minute here) old: moved back, not waited for.
      await t
        .get(DataSource)
        .getRepository(SmsMessage)
        .update({ id }, { firstAttemptAt: new Date(Date.now() - 61_000) });
      const body = await settled(id, 10_000);
      expect(body).toMatchObject({ status: 'failed', errorCode: '20500', providerSid: null });
      expect(posts()).toBe(body.attempts);
      expect(standIn.messages).toHaveLength(0);
    });
  });
});

/**
 * Twilio's 21611: the sending number's queue is full, and Twilio refuses new messages until it drains (hours). The
 * message is not failed for good at once (a bulk's tail would be): it waits a minute and is tried again.
 */
describeEachDatabase("Twilio's full sender queue (21611)", (kind) => {
  let setup: DispatchApp | undefined;
  beforeAll(async () => {
    setup = await startDispatchApp(kind, {
      env: { TWILIO_PHONE_NUMBER: TWILIO_MAGIC_FROM_QUEUE_FULL, SMS_SEND_WAIT_MS: '1500', SMS_POLL_INTERVAL_MS: '100' },
    });
  });
  afterAll(() => setup?.close());

  it('keeps the message queued a minute later with the code explained, instead of failing it', async () => {
    const { t, standIn } = setup!;
    const auth = { Authorization: `Bearer ${await t.rootToken()}` };
    const before = Date.now();
    const res = await t.http.post('/api/sms/send').set(auth).send({ to: '+33612345678', message: 'Bonjour' });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect(res.body).toMatchObject({ state: 'queued', lastError: { code: '21611', explanation: expect.stringMatching(/file d'attente/) } });
    expect(standIn.requests.filter((r) => r.method === 'POST')).toHaveLength(1);
    const stored = await t.http.get(`/api/sms/messages/${res.body.id}`).set(auth).expect(200);
    expect(stored.body).toMatchObject({
      status: 'queued',
      errorCode: '21611',
      errorExplanation: expect.stringMatching(/^La file d'attente/),
    });
    expect(Date.parse(stored.body.notBefore) - before).toBeGreaterThanOrEqual(60_000);
  });
});
