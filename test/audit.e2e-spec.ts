import { Role } from '../src/users/role.enum.js';
import { describeEachDatabase } from './support/databases.js';
import { ROOT_EMAIL, TestApp, USER_PASSWORD } from './support/test-app.js';

describeEachDatabase('Audit journal', (kind) => {
  let t: TestApp;
  let root: string;
  const auth = (token: string) => ({ Authorization: `Bearer ${token}` });
  beforeAll(async () => {
    t = await TestApp.start(kind);
    root = await t.rootToken();
  });
  afterAll(() => t?.close());

  it('journals sign-in success and failure with the IP, never the password', async () => {
    await t.http.post('/api/auth/login').send({ email: 'ghost@example.test', password: 'secret-attempt-xyz' }).expect(401);
    const failures = await t.http.get('/api/audit?action=login_failure').set(auth(root)).expect(200);
    expect(failures.body.items[0]).toMatchObject({
      action: 'login_failure',
      actorId: null,
      actorEmail: null,
      targetId: null,
      metadata: { email: 'ghost@example.test', reason: 'unknown_email' },
      ip: expect.stringMatching(/127\.0\.0\.1/),
    });
    expect(JSON.stringify(failures.body)).not.toContain('secret-attempt-xyz');
    // A wrong password for a real account: the account is the target; whoever tried is not its owner, so
    // filtering on the owner as actor does not list someone else's guesses.
    await t.http.post('/api/auth/login').send({ email: ROOT_EMAIL, password: 'not-the-password-xyz' }).expect(401);
    const guessed = await t.http.get('/api/audit?action=login_failure').set(auth(root)).expect(200);
    const rootId = (await t.http.get('/api/auth/me').set(auth(root)).expect(200)).body.id;
    expect(guessed.body.items[0]).toMatchObject({
      actorId: null,
      actorEmail: null,
      actorRole: null,
      targetType: 'user',
      targetId: rootId,
      metadata: { email: ROOT_EMAIL, reason: 'wrong_password' },
    });
    const asRoot = await t.http.get(`/api/audit?actor=${rootId}&action=login_failure`).set(auth(root)).expect(200);
    expect(asRoot.body.total).toBe(0);
    const successes = await t.http.get('/api/audit?action=login_success').set(auth(root)).expect(200);
    expect(successes.body.items.some((e: { actorEmail: string }) => e.actorEmail === ROOT_EMAIL)).toBe(true);
  });

  it("journals a send's final state and a batch's end, written later by the dispatcher, with the request's IP", async () => {
    const sent = await t.http.post('/api/sms/send').set(auth(root)).send({ to: '0612345678', message: 'Adresse IP' }).expect(201);
    const bulk = await t.http
      .post('/api/sms/bulk')
      .set(auth(root))
      .send({ recipients: [{ phone: '0687654321' }], message: 'Lot' })
      .expect(202);
    await t.settle();
    const sends = await t.http.get('/api/audit?action=send_sms&limit=50').set(auth(root)).expect(200);
    const send = sends.body.items.find((e: { metadata: { messageId?: string } }) => e.metadata.messageId === sent.body.id);
    expect(send).toMatchObject({ actorEmail: ROOT_EMAIL, ip: expect.stringMatching(/127\.0\.0\.1/) });
    const bulks = await t.http.get('/api/audit?action=send_bulk_sms&limit=50').set(auth(root)).expect(200);
    const ofBatch = bulks.body.items.filter((e: { metadata: { batchId?: string } }) => e.metadata.batchId === bulk.body.batchId);
    const phases = ofBatch.filter((e: { metadata: { phase?: string } }) => e.metadata.phase);
    expect(phases.map((e: { metadata: { phase: string } }) => e.metadata.phase).sort()).toEqual(['accepted', 'finished']);
    for (const entry of ofBatch) expect(entry.ip).toMatch(/127\.0\.0\.1/);
    // And each recipient's SMS, as the brief asks of every send: its number, its message, Twilio's status and SID.
    const [message] = (await t.http.get(`/api/sms/bulk/${bulk.body.batchId}/messages`).set(auth(root)).expect(200)).body.items;
    const recipients = ofBatch.filter((e: { metadata: { phase?: string } }) => !e.metadata.phase);
    expect(recipients).toEqual([
      expect.objectContaining({
        actorEmail: ROOT_EMAIL,
        targetType: 'sms_message',
        targetId: message.id,
        metadata: expect.objectContaining({
          messageId: message.id,
          batchId: bulk.body.batchId,
          to: '+33687654321',
          message: 'Lot',
          status: message.status,
          sid: message.providerSid,
        }),
      }),
    ]);
    expect(message.providerSid).toBeTruthy();
  });

  it('journals a route refused to a role (a user trying to send SMS): who, which route, once a minute per user and route', async () => {
    const user = await t.userWithRole(Role.User, 'curious@example.test');
    for (let i = 0; i < 3; i++)
      await t.http.post('/api/sms/send').set(auth(user.token)).send({ to: '0612345678', message: 'Essai' }).expect(403);
    await t.http.get('/api/audit').set(auth(user.token)).expect(403);
    await t.settle();
    const denied = await t.http.get('/api/audit?action=access_denied&limit=50').set(auth(root)).expect(200);
    const mine = denied.body.items.filter((e: { actorId: string }) => e.actorId === user.id);
    expect(mine).toHaveLength(2);
    expect(mine).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          actorEmail: 'curious@example.test',
          actorRole: 'user',
          ip: expect.stringMatching(/127\.0\.0\.1/),
          targetType: 'route',
          targetId: 'POST /api/sms/send',
          metadata: { method: 'POST', route: '/api/sms/send', role: 'user', allowed: ['admin', 'superadmin'] },
        }),
        expect.objectContaining({ targetId: 'GET /api/audit', metadata: expect.objectContaining({ method: 'GET', role: 'user' }) }),
      ]),
    );
    // Nothing of the refused request's body is journaled.
    expect(JSON.stringify(mine)).not.toContain('Essai');
  });

  it('journals user creation and changes with the actor and what changed', async () => {
    const user = await t.userWithRole(Role.User, 'journaled@example.test');
    await t.http.patch(`/api/users/${user.id}`).set(auth(root)).send({ name: 'New name', password: 'another-long-password' }).expect(200);
    const created = await t.http.get('/api/audit?action=user_created').set(auth(root)).expect(200);
    expect(created.body.items[0]).toMatchObject({
      actorEmail: ROOT_EMAIL,
      actorRole: 'superadmin',
      targetType: 'user',
      targetId: user.id,
      metadata: { email: 'journaled@example.test', role: 'user' },
    });
    const updated = await t.http.get('/api/audit?action=user_updated').set(auth(root)).expect(200);
    expect(updated.body.items[0].metadata).toMatchObject({ changed: ['name', 'password'] });
    expect(JSON.stringify(updated.body)).not.toContain('another-long-password');
  });

  it('filters by actor and time range, newest first, paginated', async () => {
    const admin = await t.userWithRole(Role.Admin, 'auditor@example.test');
    const before = new Date(Date.now() - 1000).toISOString();
    await t.http
      .post('/api/users')
      .set(auth(admin.token))
      .send({ email: 'by-auditor@example.test', password: USER_PASSWORD, role: 'user' })
      .expect(201);
    const byActor = await t.http.get(`/api/audit?actor=auditor@example.test`).set(auth(root)).expect(200);
    expect(byActor.body.items.length).toBeGreaterThan(0);
    expect(byActor.body.items.every((e: { actorEmail: string }) => e.actorEmail === 'auditor@example.test')).toBe(true);
    const byId = await t.http.get(`/api/audit?actor=${admin.id}&action=user_created`).set(auth(root)).expect(200);
    expect(byId.body.total).toBe(1);
    // An id or email as another tool spells it (upper-case UUID, capitalised address) finds the same entries.
    const byUpperId = await t.http.get(`/api/audit?actor=${admin.id.toUpperCase()}&action=user_created`).set(auth(root)).expect(200);
    expect(byUpperId.body.total).toBe(1);
    const byUpperEmail = await t.http.get(`/api/audit?actor=Auditor@Example.TEST`).set(auth(root)).expect(200);
    expect(byUpperEmail.body.total).toBe(byActor.body.total);

    const all = await t.http.get(`/api/audit?from=${before}`).set(auth(root)).expect(200);
    const times = all.body.items.map((e: { createdAt: string }) => Date.parse(e.createdAt));
    expect(times).toEqual([...times].sort((a, b) => b - a));
    expect(times.every((x: number) => x >= Date.parse(before))).toBe(true);
    const future = await t.http.get(`/api/audit?from=2999-01-01T00:00:00Z`).set(auth(root)).expect(200);
    expect(future.body.total).toBe(0);
    const past = await t.http.get(`/api/audit?to=2000-01-01T00:00:00Z`).set(auth(root)).expect(200);
    expect(past.body.total).toBe(0);
    const page = await t.http.get('/api/audit?limit=1&page=2').set(auth(root)).expect(200);
    expect(page.body.items).toHaveLength(1);
  });

  it('stores times in UTC', async () => {
    const res = await t.http.get('/api/audit?limit=1').set(auth(root)).expect(200);
    expect(Math.abs(Date.parse(res.body.items[0].createdAt) - Date.now())).toBeLessThan(60_000);
  });

  it('refuses bad filters with 400 naming the field', async () => {
    const res = await t.http.get('/api/audit?from=yesterday').set(auth(root)).expect(400);
    expect(res.body.message).toMatch(/from must be an ISO 8601/);
    const action = await t.http.get('/api/audit?action=nope').set(auth(root)).expect(400);
    expect(action.body.message).toMatch(/action must be one of/);
  });
});
