import { vi } from 'vitest';
import { DataSource } from 'typeorm';
import { Clock } from '../src/common/clock.js';
import { IdempotencyKey } from '../src/idempotency/idempotency-key.entity.js';
import { IdempotencyService, requestHash } from '../src/idempotency/idempotency.service.js';
import { Role } from '../src/users/role.enum.js';
import { describeEachDatabase } from './support/databases.js';
import { startDispatchApp, type DispatchApp } from './support/dispatch.js';
import { TestApp } from './support/test-app.js';
import { TWILIO_MAGIC_NUMBERS, type TwilioStandIn } from './support/twilio-stand-in.js';

const SEND = { to: '+33612345678', message: 'Votre message SMS ici' };
const NOTIFICATION = {
  to: '+33612345678',
  type: 'appointment_confirmed',
  data: { name: 'Jean Dupont', date: 'lundi 15 janvier 2024', time: '14:30' },
};
const BULK = {
  recipients: [
    { phone: '+33612345678', name: 'Jean Dupont' },
    { phone: '+33687654321', name: 'Marie Martin' },
  ],
  message: 'Bonjour {{name}}',
};
const DAY = 24 * 3_600_000;

describeEachDatabase('Idempotency-Key', (kind) => {
  let setup: DispatchApp | undefined;
  let standIn: TwilioStandIn;
  let t: TestApp;
  let admin: string;
  let adminId: string;
  let otherAdmin: string;
  let keyCounter = 0;
  const newKey = () => `key-${kind}-${Date.now()}-${++keyCounter}`;
  const auth = (token = admin) => ({ Authorization: `Bearer ${token}` });
  const sends = () => standIn.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/Messages.json')).length;
  const post = (route: string, body: object, key: string, token = admin, app = t) =>
    app.http
      .post(`/api/sms/${route}`)
      .set({ ...auth(token), 'Idempotency-Key': key })
      .send(body);

  beforeAll(async () => {
    // Long enough for the slow stand-in of the concurrency test.
    // One attempt: a Twilio failure is final at once (the dispatcher's retries have their own suite).
    setup = await startDispatchApp(kind, { env: { TWILIO_TIMEOUT_MS: '10000', SMS_MAX_ATTEMPTS: '1' } });
    ({ standIn, t } = setup);
    const created = await t.userWithRole(Role.Admin);
    admin = created.token;
    adminId = created.id;
    otherAdmin = (await t.userWithRole(Role.Admin)).token;
  });
  afterAll(() => setup?.close());
  beforeEach(() => standIn.reset());
  afterEach(() => vi.restoreAllMocks());

  it.each([
    ['send', SEND, 1, 201],
    ['notification', NOTIFICATION, 1, 201],
    ['bulk', BULK, 2, 202],
  ] as const)(
    'POST /api/sms/%s: the same key and body replay the first answer and send nothing new',
    async (route, body, expectedSends, status) => {
      const key = newKey();
      const first = await post(route, body, key);
      expect(first.status).toBe(status);
      expect(first.headers['idempotency-replayed']).toBeUndefined();
      // A bulk is accepted at once and sent in the background.
      await vi.waitFor(() => expect(sends()).toBe(expectedSends), { timeout: 10_000, interval: 50 });

      // The same body with its keys in another order is the same request.
      const reordered = Object.fromEntries(Object.entries(body).reverse());
      const again = await post(route, reordered, key);
      expect(again.status).toBe(status);
      expect(again.headers['idempotency-replayed']).toBe('true');
      expect(again.headers['content-type']).toMatch(/^application\/json/);
      expect(again.body).toEqual(first.body);
      expect(again.text).toBe(first.text);
      expect(sends()).toBe(expectedSends);
    },
  );

  it('the same key with another body (or on another route) → 422, nothing sent', async () => {
    const key = newKey();
    await post('send', SEND, key).expect(201);
    const other = await post('send', { ...SEND, message: 'Autre message' }, key).expect(422);
    expect(other.body.message).toMatch(/Idempotency-Key was already used with a different request/);
    expect(other.body.details).toEqual([{ field: 'Idempotency-Key', problems: ['already used with a different request'] }]);
    await post('notification', NOTIFICATION, key).expect(422);
    expect(sends()).toBe(1);
  });

  it('the same key while the first request runs → 409 with Retry-After; then it replays', async () => {
    standIn.setBehaviour({ delayMs: 1500 });
    const key = newKey();
    const answers = await Promise.all([post('send', SEND, key), post('send', SEND, key), post('send', SEND, key)]);
    expect(answers.map((a) => a.status).sort()).toEqual([201, 409, 409]);
    for (const conflict of answers.filter((a) => a.status === 409)) {
      expect(conflict.headers['retry-after']).toBe('1');
      expect(conflict.body.message).toMatch(/still being processed/);
    }
    expect(sends()).toBe(1);
    const replay = await post('send', SEND, key).expect(201);
    expect(replay.headers['idempotency-replayed']).toBe('true');
    expect(replay.body).toEqual(answers.find((a) => a.status === 201)!.body);
    expect(sends()).toBe(1);
  });

  it('a claim whose request died is taken over once its lease runs out (409 until then)', async () => {
    const key = newKey();
    const keys = t.get(DataSource).getRepository(IdempotencyKey);
    const now = Date.now();
    // What a process killed mid-request leaves behind.
    await keys.insert({
      id: crypto.randomUUID(),
      userId: adminId,
      key,
      requestHash: requestHash('POST', '/api/sms/send', SEND),
      state: 'running',
      lockedUntil: new Date(now + 30_000),
      responseStatus: null,
      responseBody: null,
      createdAt: new Date(now),
      expiresAt: new Date(now + DAY),
    });
    await post('send', SEND, key).expect(409).expect('Retry-After', '1');
    expect(sends()).toBe(0);
    await keys.update({ userId: adminId, key }, { lockedUntil: new Date(now - 1000) });
    const taken = await post('send', SEND, key).expect(201);
    expect(taken.headers['idempotency-replayed']).toBeUndefined();
    await post('send', SEND, key).expect(201).expect('Idempotency-Replayed', 'true');
    expect(sends()).toBe(1);
  });

  it.each([
    ['send', SEND, 1, 201],
    ['notification', NOTIFICATION, 1, 201],
    ['bulk', BULK, 2, 202],
  ] as const)(
    'POST /api/sms/%s: a claim taken over after its request wrote its message and died finds that message, sends nothing twice',
    async (route, body, expectedSends, status) => {
      const key = newKey();
      const first = await post(route, body, key).expect(status);
      await vi.waitFor(() => expect(sends()).toBe(expectedSends), { timeout: 10_000, interval: 50 });
      // What a process killed after the message was written and before the answer was kept leaves behind: the claim
      // still running (its lease since run out), the message or batch stored (and gone to Twilio).
      const keys = t.get(DataSource).getRepository(IdempotencyKey);
      await keys.update(
        { userId: adminId, key },
        { state: 'running', lockedUntil: new Date(Date.now() - 1000), responseStatus: null, responseBody: null },
      );
      const taken = await post(route, body, key);
      expect(taken.status, JSON.stringify(taken.body)).toBe(status);
      expect(taken.headers['idempotency-replayed']).toBeUndefined();
      if (route === 'bulk') expect(taken.body).toMatchObject({ batchId: first.body.batchId, queued: 2, total: 2 });
      else expect(taken.body).toMatchObject({ id: first.body.id, sid: first.body.sid, state: 'sent' });
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(sends()).toBe(expectedSends);
      if (route === 'bulk') {
        const [messages] = await t.get(DataSource).query(`SELECT count(*) AS n FROM sms_messages WHERE batch_id = '${first.body.batchId}'`);
        expect(Number(messages.n)).toBe(2);
      }
      // The answer is kept this time: replayed.
      await post(route, body, key).expect(status).expect('Idempotency-Replayed', 'true');
    },
  );

  it('a client that gives up does not end the claim: its retry gets 409 while the first request runs past the lease, then the answer; one SMS', async () => {
    const idempotency = t.get(IdempotencyService);
    const real = { leaseMs: idempotency.leaseMs, renewMs: idempotency.renewMs };
    // A lease of 600 ms renewed every 150 ms (60 s and 20 s for real): the first request outlives several leases.
    Object.assign(idempotency, { leaseMs: 600, renewMs: 150 });
    try {
      standIn.setBehaviour({ delayMs: 3000 });
      const key = newKey();
      // The client stops waiting after 300 ms and closes its connection; the request runs on (Twilio answers at 3 s).
      const first = await post('send', SEND, key)
        .timeout(300)
        .then(
          (res) => `answered ${res.status}`,
          (error: { code?: string }) => error.code,
        );
      expect(first).toBe('ECONNABORTED');
      await vi.waitFor(() => expect(sends()).toBe(1), { timeout: 2000, interval: 20 });
      // Well past the lease since the client left.
      await new Promise((resolve) => setTimeout(resolve, 1500));

      const retry = await post('send', SEND, key);
      expect(retry.status).toBe(409);
      expect(retry.headers['retry-after']).toBe('1');

      // Once the first request has its answer, the key replays it.
      let replay: Awaited<ReturnType<typeof post>> | undefined;
      await vi.waitFor(
        async () => {
          replay = await post('send', SEND, key);
          expect(replay.status).toBe(201);
        },
        { timeout: 10_000, interval: 200 },
      );
      expect(replay!.headers['idempotency-replayed']).toBe('true');
      expect(sends()).toBe(1);
    } finally {
      Object.assign(idempotency, real);
    }
  });

  it('documents the header and the 409 on the three routes in the OpenAPI description', async () => {
    const doc = (await t.http.get('/api/docs-json').expect(200)).body;
    for (const route of ['send', 'notification', 'bulk']) {
      const operation = doc.paths[`/api/sms/${route}`].post;
      expect(operation.parameters.map((p: { name: string }) => p.name)).toContain('Idempotency-Key');
      expect(operation.responses['409']).toBeDefined();
    }
  });

  it('a key longer than 255 characters → 400 naming the header; 255 is accepted', async () => {
    const long = await post('send', SEND, 'k'.repeat(256)).expect(400);
    expect(long.body.details).toEqual([{ field: 'Idempotency-Key', problems: ['Idempotency-Key must be at most 255 characters'] }]);
    expect(sends()).toBe(0);
    await post('send', SEND, 'k'.repeat(255)).expect(201);
    expect(sends()).toBe(1);
  });

  it('a key given twice (two header lines, which Node joins into "a, b") → 400 naming the header', async () => {
    // An array sends one header line per value (superagent's types only allow it for Cookie).
    const keys = [newKey(), newKey()] as unknown as string;
    const twice = await t.http.post('/api/sms/send').set(auth(admin)).set('Idempotency-Key', keys).send(SEND).expect(400);
    expect(twice.body.details).toEqual([{ field: 'Idempotency-Key', problems: ['Idempotency-Key must be given once'] }]);
    expect(sends()).toBe(0);
  });

  it('keys are per user: two users with the same key are independent', async () => {
    const key = newKey();
    const mine = await post('send', SEND, key).expect(201);
    const theirs = await post('send', SEND, key, otherAdmin).expect(201);
    expect(theirs.headers['idempotency-replayed']).toBeUndefined();
    expect(theirs.body.id).not.toBe(mine.body.id);
    expect(sends()).toBe(2);
  });

  it('a 4xx answer is final: replayed as it was, nothing sent again', async () => {
    const key = newKey();
    const refused = await post('send', { to: TWILIO_MAGIC_NUMBERS.invalid, message: 'x' }, key).expect(400);
    expect(sends()).toBe(1);
    const again = await post('send', { to: TWILIO_MAGIC_NUMBERS.invalid, message: 'x' }, key).expect(400);
    expect(again.headers['idempotency-replayed']).toBe('true');
    expect(again.body).toEqual(refused.body);
    expect(sends()).toBe(1);
  });

  it('a 502 (Twilio failed) is not kept: a retry with the key runs again', async () => {
    const key = newKey();
    standIn.setBehaviour({ failRate: 1, failStatus: 500 });
    await post('send', SEND, key).expect(502);
    standIn.setBehaviour({});
    const retry = await post('send', SEND, key).expect(201);
    expect(retry.headers['idempotency-replayed']).toBeUndefined();
    expect(sends()).toBe(2);
    await post('send', SEND, key).expect(201).expect('Idempotency-Replayed', 'true');
    expect(sends()).toBe(2);
  });

  it('keys expire after 24 h: the same key then runs afresh, and the expired row is purged', async () => {
    const key = newKey();
    await post('send', SEND, key).expect(201);
    const clock = t.get(Clock);
    const later = new Date(Date.now() + DAY + 60_000);
    vi.spyOn(clock, 'now').mockReturnValue(later);
    const fresh = await post('send', SEND, key).expect(201);
    expect(fresh.headers['idempotency-replayed']).toBeUndefined();
    expect(sends()).toBe(2);
    const rows = await t.get(DataSource).query(`SELECT count(*) AS n FROM idempotency_keys WHERE idempotency_key = '${key}'`);
    expect(Number(rows[0].n)).toBe(1);

    // The periodic purge removes whatever has expired, accessed or not.
    vi.spyOn(clock, 'now').mockReturnValue(new Date(later.getTime() + DAY + 60_000));
    expect(await t.get(IdempotencyService).purgeExpired()).toBeGreaterThanOrEqual(1);
    const left = await t.get(DataSource).query(`SELECT count(*) AS n FROM idempotency_keys`);
    expect(Number(left[0].n)).toBe(0);
  });

  it('without the header nothing changes: two identical sends send twice', async () => {
    await t.http.post('/api/sms/send').set(auth()).send(SEND).expect(201);
    await t.http.post('/api/sms/send').set(auth()).send(SEND).expect(201);
    expect(sends()).toBe(2);
  });
  // Last: Passport's strategy registry is process-wide, so once the second app closes the first app's
  // tokens no longer validate; nothing may run after this test.
  it('the claim is atomic across instances: two apps on one database, the same key at once → one send, one 409', async () => {
    const second = await TestApp.start(kind, setup!.env, t.db);
    try {
      standIn.setBehaviour({ delayMs: 1500 });
      const key = newKey();
      const answers = await Promise.all([post('send', SEND, key), post('send', SEND, key, admin, second)]);
      expect(answers.map((a) => a.status).sort()).toEqual([201, 409]);
      for (const conflict of answers.filter((a) => a.status === 409)) {
        expect(conflict.headers['retry-after']).toBe('1');
        expect(conflict.body.message).toMatch(/still being processed/);
      }
      expect(sends()).toBe(1);
      // Once it is done, the key replays from either instance.
      const winner = answers.find((a) => a.status === 201)!;
      const replay = await post('send', SEND, key, admin, second).expect(201);
      expect(replay.headers['idempotency-replayed']).toBe('true');
      expect(replay.body).toEqual(winner.body);
      expect(sends()).toBe(1);
    } finally {
      await second.close();
    }
  });
});

describeEachDatabase('Idempotency-Key: a taken-over claim whose answer is not kept', (kind) => {
  let setup: DispatchApp | undefined;
  beforeAll(async () => {
    setup = await startDispatchApp(kind, { env: { SMS_USER_MAX_PER_MINUTE: '1' } });
  });
  afterAll(() => setup?.close());

  it('is expired, not deleted: its id, which keys what the dead request wrote, is taken over again by the next retry', async () => {
    const { t } = setup!;
    const user = await t.userWithRole(Role.Admin);
    const key = `taken-over-${kind}`;
    const post = () =>
      t.http
        .post('/api/sms/send')
        .set({ Authorization: `Bearer ${user.token}`, 'Idempotency-Key': key })
        .send(SEND);
    const first = await post().expect(201);
    const keys = t.get(DataSource).getRepository(IdempotencyKey);
    const claim = await keys.findOneByOrFail({ userId: user.id, key });
    // The request died after its message was written (its answer never kept); the retry takes its claim over and is
    // refused by the per-user limit (its one send a minute is used): 429, an answer not kept.
    await keys.update(
      { id: claim.id },
      { state: 'running', lockedUntil: new Date(Date.now() - 1000), responseStatus: null, responseBody: null },
    );
    await post().expect(429);
    const after = await keys.findOneBy({ id: claim.id });
    expect(after).toMatchObject({ state: 'running' });
    expect(after!.lockedUntil!.getTime()).toBeLessThanOrEqual(Date.now());
    // What the next retry finds under that id: the first request's message.
    const [message] = await t.get(DataSource).query(`SELECT id FROM sms_messages WHERE dedupe_key = 'idempotency:${claim.id}'`);
    expect(message.id).toBe(first.body.id);
  });
});
