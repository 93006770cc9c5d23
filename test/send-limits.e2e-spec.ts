import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import twilio from 'twilio';
import { inject } from 'vitest';
import { SendQuotaService } from '../src/limits/send-quota.service.js';
import { Role } from '../src/users/role.enum.js';
import { createTestDatabase, describeEachDatabase, type DatabaseKind } from './support/databases.js';
import { TestApp, twilioEnvironment } from './support/test-app.js';
import { testTwilioCredentials, TWILIO_MAGIC_NUMBERS, TwilioStandIn } from './support/twilio-stand-in.js';

const LIMIT = 5;
const SEND = { to: '+33612345678', message: 'Votre rendez-vous est confirmé' };
const NOTIFICATION = {
  to: '+33612345678',
  type: 'appointment_confirmed',
  data: { name: 'Jean Dupont', date: 'lundi 15 janvier 2024', time: '14:30' },
};
const bulk = (n: number) => ({
  recipients: Array.from({ length: n }, (_, i) => ({ phone: `+3361234${String(5000 + i).padStart(4, '0')}`, name: `Client ${i}` })),
  message: 'Bonjour {{name}}',
});

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: { message?: string; code?: string; details?: { field: string; problems: string[] }[] };
}

describeEachDatabase('Per-user send limit (SMS_USER_MAX_PER_MINUTE)', (kind) => {
  const credentials = testTwilioCredentials();
  let standIn: TwilioStandIn;
  let t: TestApp;
  let users: { id: string; token: string }[];
  let keyCounter = 0;
  const newKey = () => `limits-${kind}-${Date.now()}-${++keyCounter}`;
  const sends = () => standIn.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/Messages.json')).length;
  const post = (route: string, body: object, token: string, key?: string): Promise<Answer> => {
    const req = t.http.post(`/api/sms/${route}`).set('Authorization', `Bearer ${token}`);
    if (key) void req.set('Idempotency-Key', key);
    return req.send(body) as unknown as Promise<Answer>;
  };
  const expectRefused = (res: Answer) => {
    expect(res.status).toBe(429);
    const retryAfter = Number(res.headers['retry-after']);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(res.body.message).toMatch(/^Too many SMS: at most 5 per minute for each user/);
    expect(res.body.message).toContain(`try again in ${retryAfter} seconds`);
  };

  beforeAll(async () => {
    standIn = await TwilioStandIn.start(credentials);
    t = await TestApp.start(kind, {
      ...twilioEnvironment(standIn, credentials.authToken),
      TWILIO_TIMEOUT_MS: '10000',
      SMS_USER_MAX_PER_MINUTE: String(LIMIT),
    });
    users = [await t.userWithRole(Role.Admin), await t.userWithRole(Role.Admin), await t.userWithRole(Role.SuperAdmin)];
  });
  afterAll(async () => {
    await t?.close();
    await standIn?.stop();
  });
  beforeEach(async () => {
    standIn.reset();
    // Each test starts with fresh minutes (as the window's end would give).
    for (const user of users) await t.get(SendQuotaService).reset(user.id);
  });

  it('lets exactly the limit through among concurrent sends and notifications of one user; the rest get 429 with Retry-After', async () => {
    const [alice, bob] = users;
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, i) => (i % 2 ? post('send', SEND, alice.token) : post('notification', NOTIFICATION, alice.token))),
    );

    expect(answers.filter((a) => a.status === 201)).toHaveLength(LIMIT);
    const refused = answers.filter((a) => a.status !== 201);
    expect(refused).toHaveLength(12 - LIMIT);
    refused.forEach(expectRefused);
    expect(sends()).toBe(LIMIT);

    // Another user has their own minute.
    const others = await Promise.all(Array.from({ length: LIMIT }, () => post('send', SEND, bob.token)));
    expect(others.map((a) => a.status)).toEqual(Array(LIMIT).fill(201));
    expect(sends()).toBe(2 * LIMIT);
    expectRefused(await post('send', SEND, bob.token));
  });

  it('counts a bulk by its recipients, and refuses a bulk that does not fit whole, sending none of it', async () => {
    const [alice] = users;
    // A bulk is accepted at once (202) and sent in the background.
    expect((await post('bulk', bulk(3), alice.token)).status).toBe(202);
    await vi.waitFor(() => expect(sends()).toBe(3), { timeout: 10_000, interval: 50 });

    const tooMany = await post('bulk', bulk(3), alice.token);
    expectRefused(tooMany);
    expect(tooMany.body.message).toContain('this request needs 3 and 2 are left');
    expect(sends()).toBe(3);

    // The refused bulk cost nothing: the two points left are still there.
    expect((await post('send', SEND, alice.token)).status).toBe(201);
    expect((await post('bulk', bulk(1), alice.token)).status).toBe(202);
    expectRefused(await post('send', SEND, alice.token));
    await vi.waitFor(() => expect(sends()).toBe(LIMIT), { timeout: 10_000, interval: 50 });
  });

  it('answers 400 naming recipients for a bulk larger than the whole limit, at no cost', async () => {
    const [alice] = users;
    const res = await post('bulk', bulk(LIMIT + 1), alice.token);

    expect(res.status).toBe(400);
    expect(res.body.details).toEqual([{ field: 'recipients', problems: [expect.stringMatching(/6 recipients is more than the 5 SMS/)] }]);
    expect(sends()).toBe(0);
    const after = await Promise.all(Array.from({ length: LIMIT }, () => post('send', SEND, alice.token)));
    expect(after.map((a) => a.status)).toEqual(Array(LIMIT).fill(201));
  });

  it('keeps the points of a send Twilio refused, though it answers 400 (21211: the call was made)', async () => {
    const [alice] = users;
    const refused = [];
    for (let i = 0; i < LIMIT + 1; i++) refused.push(await post('send', { ...SEND, to: TWILIO_MAGIC_NUMBERS.invalid }, alice.token));
    expect(refused.slice(0, LIMIT).map((r) => [r.status, r.body.code])).toEqual(Array(LIMIT).fill([400, '21211']));
    expectRefused(refused[LIMIT]!);
    expect(sends()).toBe(LIMIT);
  });

  it('counts the appointment routes that text the client: confirm, cancel, a move or a new number; not a note, not a refused transition', async () => {
    const [alice] = users;
    const call = (method: 'post' | 'patch', path: string, body?: object) =>
      t.http[method](`/api/appointments${path}`)
        .set('Authorization', `Bearer ${alice.token}`)
        .send(body ?? {});
    const startsAt = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString();
    const created = await call('post', '', { clientName: 'Léa', clientPhone: '0612345678', startsAt: startsAt(3) }).expect(201);
    const id = created.body.id as string;
    // Creating (pending: no SMS) and editing a note count nothing.
    await call('patch', `/${id}`, { notes: 'Apporter le dossier' }).expect(200);
    expect((await call('post', `/${id}/confirm`)).status).toBe(200); // 1
    // A refused transition (409: nothing sent) gives its point back.
    expect((await call('post', `/${id}/confirm`)).status).toBe(409);
    expect((await call('patch', `/${id}`, { startsAt: startsAt(4) })).status).toBe(200); // 2
    expect((await call('patch', `/${id}`, { clientPhone: '0698765432' })).status).toBe(200); // 3
    expect((await post('send', SEND, alice.token)).status).toBe(201); // 4
    const lastMove = startsAt(5);
    expect((await call('patch', `/${id}`, { startsAt: lastMove })).status).toBe(200); // 5
    // The limit is reached: a move is refused and not made; a note still goes through.
    const refused = await call('patch', `/${id}`, { startsAt: startsAt(6) });
    expectRefused(refused as unknown as Answer);
    expectRefused((await call('post', `/${id}/cancel`, {})) as unknown as Answer);
    await call('patch', `/${id}`, { notes: 'Dossier reçu' }).expect(200);
    const stored = await t.http.get(`/api/appointments/${id}`).set('Authorization', `Bearer ${alice.token}`).expect(200);
    expect(stored.body.status).toBe('confirmed');
    expect(new Date(stored.body.startsAt).getTime()).toBe(new Date(lastMove).getTime());
  });

  it('gives back the points of a request refused as bad input (nothing was sent)', async () => {
    const [alice] = users;
    for (let i = 0; i < LIMIT + 2; i++) {
      const res = await post('send', { to: SEND.to }, alice.token);
      expect(res.status).toBe(400);
    }
    const after = await Promise.all(Array.from({ length: LIMIT }, () => post('send', SEND, alice.token)));
    expect(after.map((a) => a.status)).toEqual(Array(LIMIT).fill(201));
  });

  it('does not charge an Idempotency-Key replay, and does not keep a 429 as the answer of its key', async () => {
    const [alice] = users;
    const key = newKey();
    const first = await post('send', SEND, alice.token, key);
    expect(first.status).toBe(201);
    for (let i = 0; i < LIMIT + 2; i++) {
      const replay = await post('send', SEND, alice.token, key);
      expect(replay.status).toBe(201);
      expect(replay.headers['idempotency-replayed']).toBe('true');
    }
    // Replays took nothing: four of the five points are left.
    for (let i = 0; i < LIMIT - 1; i++) expect((await post('send', SEND, alice.token)).status).toBe(201);
    expect(sends()).toBe(LIMIT);

    const laterKey = newKey();
    expectRefused(await post('send', SEND, alice.token, laterKey));
    // The minute ends: the same key now runs the request (the 429 was not stored as its answer).
    await t.get(SendQuotaService).reset(alice.id);
    const retried = await post('send', SEND, alice.token, laterKey);
    expect(retried.status).toBe(201);
    expect(retried.headers['idempotency-replayed']).toBeUndefined();
    expect(sends()).toBe(LIMIT + 1);
  });

  it('documents the 429 on the routes that send (three SMS routes, three appointment routes) and the two that check a password', async () => {
    const doc = (await t.http.get('/api/docs-json').expect(200)).body as { paths: Record<string, Record<string, { responses: object }>> };
    const with429 = Object.entries(doc.paths)
      .flatMap(([path, methods]) => Object.entries(methods).map(([method, op]) => ({ route: `${method} ${path}`, op })))
      .filter(({ op }) => '429' in op.responses)
      .map(({ route }) => route)
      .sort();
    expect(with429).toEqual([
      'patch /api/appointments/{id}',
      'post /api/appointments/{id}/cancel',
      'post /api/appointments/{id}/confirm',
      'post /api/auth/login',
      'post /api/auth/me/password',
      'post /api/sms/bulk',
      'post /api/sms/notification',
      'post /api/sms/send',
    ]);
  });
});

const redisUrl = inject('redisUrl');
describe.skipIf(!redisUrl)('Per-user send limit shared through Redis by two instances', () => {
  const kinds: DatabaseKind[] = inject('postgresUrl') ? ['sqlite', 'postgres'] : ['sqlite'];

  it.each(kinds)('two instances on one %s database and one Redis let exactly the limit through together', async (kind) => {
    const credentials = testTwilioCredentials();
    const standIn = await TwilioStandIn.start(credentials);
    const prefix = `sms-e2e-limits-${randomBytes(6).toString('hex')}:`;
    const redis = new Redis(redisUrl!);
    const db = await createTestDatabase(kind);
    const environment = {
      ...twilioEnvironment(standIn, credentials.authToken),
      TWILIO_TIMEOUT_MS: '10000',
      SMS_USER_MAX_PER_MINUTE: String(LIMIT),
      REDIS_URL: redisUrl!,
      REDIS_KEY_PREFIX: prefix,
    };
    let one: TestApp | undefined;
    let two: TestApp | undefined;
    try {
      one = await TestApp.start(kind, environment, db);
      two = await TestApp.start(kind, environment, db);
      const alice = await one.userWithRole(Role.Admin);
      const bob = await one.userWithRole(Role.Admin);
      const send = (app: TestApp, token: string) =>
        app.http.post('/api/sms/send').set('Authorization', `Bearer ${token}`).send(SEND) as unknown as Promise<Answer>;

      const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => send(i % 2 ? one! : two!, alice.token)));

      expect(answers.filter((a) => a.status === 201)).toHaveLength(LIMIT);
      for (const refused of answers.filter((a) => a.status !== 201)) {
        expect(refused.status).toBe(429);
        expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      }
      // The count lives in Redis under the deployment's prefix, whichever instance took it.
      expect(await redis.get(`${prefix}sms-user:${alice.id}`)).toBe(String(LIMIT));
      // A bulk on one instance sees what the other took.
      expect((await send(two, bob.token)).status).toBe(201);
      const bulkRes = await one.http.post('/api/sms/bulk').set('Authorization', `Bearer ${bob.token}`).send(bulk(LIMIT));
      expect(bulkRes.status).toBe(429);
      expect(bulkRes.body.message).toContain(`this request needs ${LIMIT} and ${LIMIT - 1} are left`);
      // A send refused as bad input (400) gives its point back in Redis, within its minute.
      const refused = await two.http.post('/api/sms/send').set('Authorization', `Bearer ${bob.token}`).send({ to: SEND.to });
      expect(refused.status).toBe(400);
      expect(await redis.get(`${prefix}sms-user:${bob.id}`)).toBe('1');
    } finally {
      await one?.close();
      await two?.close();
      await db.drop();
      await standIn.stop();
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length) await redis.del(...keys);
      await redis.quit();
    }
  });
});

describeEachDatabase('Destination countries (SMS_ALLOWED_COUNTRIES)', (kind) => {
  const credentials = testTwilioCredentials();
  let standIn: TwilioStandIn;
  let t: TestApp;
  let token: string;
  const NIGERIA = '+2348031234567';
  const post = (route: string, body: object) => t.http.post(`/api/sms/${route}`).set('Authorization', `Bearer ${token}`).send(body);
  const sends = () => standIn.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/Messages.json'));

  beforeAll(async () => {
    standIn = await TwilioStandIn.start(credentials);
    t = await TestApp.start(kind, {
      ...twilioEnvironment(standIn, credentials.authToken),
      SMS_ALLOWED_COUNTRIES: 'FR, RE',
      PUBLIC_BASE_URL: 'https://sms.example.test',
    });
    token = await t.rootToken();
  });
  afterAll(async () => {
    await t?.close();
    await standIn?.stop();
  });

  it('refuses a send, a notification, bulk recipients and an appointment to other countries before anything is stored; FR and RE go', async () => {
    const refused = await post('send', { to: NIGERIA, message: 'Votre code : 4242' }).expect(400);
    expect(refused.body).toMatchObject({
      statusCode: 400,
      code: 'COUNTRY_NOT_ALLOWED',
      message: 'to: The number is of NG, and SMS go only to FR, RE (SMS_ALLOWED_COUNTRIES).',
      details: [{ field: 'to', problems: [expect.stringContaining('NG')] }],
      explanation: expect.stringContaining("n'envoie pas de SMS vers le pays"),
    });
    // An appointment texts its client: refused as its number, before it is stored.
    const appointment = await t.http
      .post('/api/appointments')
      .set('Authorization', `Bearer ${token}`)
      .send({ clientName: 'Ade', clientPhone: NIGERIA, startsAt: new Date(Date.now() + 3 * 86_400_000).toISOString() })
      .expect(400);
    expect(appointment.body).toMatchObject({ code: 'COUNTRY_NOT_ALLOWED', details: [{ field: 'clientPhone' }] });
    const appointments = await t.http.get('/api/appointments').set('Authorization', `Bearer ${token}`).expect(200);
    expect(appointments.body.total).toBe(0);
    const notification = await post('notification', { ...NOTIFICATION, to: '+447911123456' }).expect(400);
    expect(notification.body).toMatchObject({ code: 'COUNTRY_NOT_ALLOWED', details: [{ field: 'to' }] });
    const stored = await t.http.get('/api/sms/messages').query({ phone: NIGERIA }).set('Authorization', `Bearer ${token}`).expect(200);
    expect(stored.body.total).toBe(0);

    await post('send', { to: '0692 12 34 56', message: 'Bonjour de la Réunion' }).expect(201);
    const accepted = await post('bulk', {
      recipients: [
        { phone: NIGERIA, name: 'Ade' },
        { phone: '0612345678', name: 'Jean' },
      ],
      message: 'Bonjour {{name}}',
    }).expect(202);
    expect(accepted.body).toMatchObject({ queued: 1, invalid: [{ index: 0, phone: NIGERIA, code: 'COUNTRY_NOT_ALLOWED' }] });
    await vi.waitFor(() => expect(sends().map((r) => r.form.To)).toEqual(['+262692123456', '+33612345678']), { timeout: 10_000 });
  });

  it("records a STOP from a country left out but sends it no reply (a reply is an SMS we pay for); a listed country's gets one", async () => {
    const inbound = (from: string, body: string) => {
      const params = {
        MessageSid: `SM${randomBytes(16).toString('hex')}`,
        AccountSid: credentials.accountSid,
        From: from,
        To: '+33700000000',
        Body: body,
      };
      return t.http
        .post('/api/sms/webhooks/inbound')
        .type('form')
        .set(
          'X-Twilio-Signature',
          twilio.getExpectedTwilioSignature(credentials.authToken, `https://sms.example.test/api/sms/webhooks/inbound`, params),
        )
        .send(params)
        .expect(200);
    };
    expect((await inbound(NIGERIA, 'HELP')).text).not.toContain('<Message>');
    expect((await inbound(NIGERIA, 'STOP')).text).not.toContain('<Message>');
    const optOuts = await t.http.get('/api/sms/opt-outs').query({ phone: NIGERIA }).set('Authorization', `Bearer ${token}`).expect(200);
    expect(optOuts.body.items.map((o: { phone: string }) => o.phone)).toEqual([NIGERIA]);
    expect((await inbound('+33612345690', 'HELP')).text).toContain('<Message>');
  });

  it('skips a queued message whose country the list leaves out by the time it is sent (the list set after it was accepted)', async () => {
    // Accepted by an instance without the list, sent by one with it (a restart with SMS_ALLOWED_COUNTRIES set).
    const before = await TestApp.start(kind, twilioEnvironment(standIn, credentials.authToken), t.db);
    let id: string;
    try {
      const queued = await before.http
        .post('/api/sms/send')
        .set('Authorization', `Bearer ${await before.rootToken()}`)
        .send({ to: '+447911123456', message: 'Bonjour', sendAt: new Date(Date.now() + 3_000).toISOString() })
        .expect(202);
      id = queued.body.id as string;
    } finally {
      await before.close();
    }
    const sent = sends().length;
    await vi.waitFor(
      async () => {
        const stored = await t.http.get(`/api/sms/messages/${id}`).set('Authorization', `Bearer ${token}`).expect(200);
        expect(stored.body).toMatchObject({ status: 'skipped', errorCode: 'COUNTRY_NOT_ALLOWED' });
      },
      { timeout: 15_000, interval: 200 },
    );
    expect(sends()).toHaveLength(sent);
  });

  it('lets an appointment whose number the list now leaves out be edited with that same number sent back; a new one is refused', async () => {
    const before = await TestApp.start(kind, twilioEnvironment(standIn, credentials.authToken), t.db);
    let id: string;
    try {
      const created = await before.http
        .post('/api/appointments')
        .set('Authorization', `Bearer ${await before.rootToken()}`)
        .send({ clientName: 'Ade', clientPhone: NIGERIA, startsAt: new Date(Date.now() + 5 * 86_400_000).toISOString() })
        .expect(201);
      id = created.body.id as string;
    } finally {
      await before.close();
    }
    const patch = (body: object) => t.http.patch(`/api/appointments/${id}`).set('Authorization', `Bearer ${token}`).send(body);
    const edited = await patch({ clientName: 'Ade O.', clientPhone: '+234 803 123 4567', notes: 'Interprète' }).expect(200);
    expect(edited.body).toMatchObject({ clientName: 'Ade O.', clientPhone: NIGERIA, notes: 'Interprète' });
    const refused = await patch({ clientPhone: '+2348031234568' }).expect(400);
    expect(refused.body).toMatchObject({ code: 'COUNTRY_NOT_ALLOWED', details: [{ field: 'clientPhone' }] });
  });
});
