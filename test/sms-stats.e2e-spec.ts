import { randomUUID } from 'node:crypto';
import twilio from 'twilio';
import { DataSource } from 'typeorm';
import { SmsKind, SmsMessage } from '../src/sms/sms-message.entity.js';
import { Role } from '../src/users/role.enum.js';
import { describeEachDatabase } from './support/databases.js';
import { TestApp, twilioEnvironment } from './support/test-app.js';
import { testTwilioCredentials, TwilioStandIn } from './support/twilio-stand-in.js';

const PUBLIC_BASE_URL = 'https://sms.example.test';

/** A stored message written directly, at a chosen time (the API always writes "now"). */
const row = (createdAt: Date, fields: Partial<SmsMessage> = {}): SmsMessage =>
  Object.assign(new SmsMessage(), {
    id: randomUUID(),
    to: '+33612345678',
    from: '+33700000000',
    body: 'x',
    kind: SmsKind.Single,
    provider: 'twilio',
    status: 'delivered',
    providerSid: 'SM' + randomUUID().replace(/-/g, ''),
    segments: 1,
    encoding: 'GSM-7',
    category: 'transactional',
    attempts: 1,
    createdAt,
    updatedAt: createdAt,
    ...fields,
  });

describeEachDatabase('SMS statistics', (kind) => {
  const credentials = testTwilioCredentials();
  let standIn: TwilioStandIn;
  let t: TestApp;
  let admin: string;
  const auth = (token: string) => ({ Authorization: `Bearer ${token}` });
  const callback = (params: Record<string, string>) => {
    const path = '/api/sms/webhooks/status';
    const signature = twilio.getExpectedTwilioSignature(credentials.authToken, PUBLIC_BASE_URL + path, params);
    return t.http.post(path).type('form').set('X-Twilio-Signature', signature).send(params).expect(200);
  };

  beforeAll(async () => {
    standIn = await TwilioStandIn.start(credentials);
    t = await TestApp.start(kind, { ...twilioEnvironment(standIn, credentials.authToken), PUBLIC_BASE_URL });
    admin = (await t.userWithRole(Role.Admin)).token;

    // Today, through the real send path and signed callbacks: 3 delivered, 1 undelivered 30003, 1 failed at send (21211).
    const today: { sid: string }[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await t.http
        .post('/api/sms/send')
        .set(auth(admin))
        .send({ to: `+3361234560${i}`, message: i === 0 ? 'x'.repeat(200) : 'Bonjour' })
        .expect(201);
      today.push(res.body);
    }
    await t.http.post('/api/sms/send').set(auth(admin)).send({ to: '+15005550001', message: 'Bonjour' }).expect(400);
    for (const { sid } of today.slice(0, 3)) await callback({ MessageSid: sid, MessageStatus: 'delivered' });
    await callback({ MessageSid: today[3].sid, MessageStatus: 'undelivered', ErrorCode: '30003' });
    await t.http.post('/api/sms/opt-outs').set(auth(admin)).send({ phone: '0698765432' }).expect(201);

    // Earlier days, written directly: 2026-01-10 (2 delivered, 1 undelivered 30005 marketing bulk), 2026-01-11 (1 failed 30003).
    await t
      .get(DataSource)
      .getRepository(SmsMessage)
      .save([
        row(new Date('2026-01-10T09:00:00Z'), {}),
        row(new Date('2026-01-10T23:30:00Z'), { segments: 3 }),
        row(new Date('2026-01-10T12:00:00Z'), { status: 'undelivered', errorCode: '30005', kind: SmsKind.Bulk, category: 'marketing' }),
        row(new Date('2026-01-11T08:00:00Z'), { status: 'failed', errorCode: '30003' }),
      ]);
  });
  afterAll(async () => {
    await t?.close();
    await standIn?.stop();
  });

  it('counts by status and day, delivery rate, segments, top errors explained, opt-outs gained (default: the last 30 days)', async () => {
    const res = await t.http.get('/api/sms/stats').set(auth(admin)).expect(200);
    // Days are Paris days (DEFAULT_TIMEZONE), as a date alone in a filter is.
    const day = new Intl.DateTimeFormat('en-CA', { timeZone: 'Europe/Paris' }).format(new Date());
    expect(res.body).toMatchObject({
      timeZone: 'Europe/Paris',
      total: 5,
      byStatus: { delivered: 3, undelivered: 1, failed: 1 },
      byDay: [{ day, total: 5, byStatus: { delivered: 3, undelivered: 1, failed: 1 } }],
      delivered: 3,
      notDelivered: 2,
      deliveryRate: 0.6,
      // 200 GSM-7 characters are 2 segments; the one refused at send time never left.
      segmentsSent: 5,
      optOutsGained: { total: 1, bySource: { manual: 1 } },
      filters: { kind: null, category: null },
    });
    expect(res.body.topErrors).toEqual([
      { code: '21211', count: 1, explanation: 'Le numéro de téléphone fourni est invalide.' },
      { code: '30003', count: 1, explanation: 'Téléphone injoignable : éteint, hors réseau ou sans service.' },
    ]);
  });

  it('segmentsSent leaves out messages still in the outbox (sent later, waiting for a retry, in flight), not those Twilio has queued', async () => {
    const day = (hour: number) => new Date(`2026-02-01T${String(hour).padStart(2, '0')}:00:00Z`);
    await t
      .get(DataSource)
      .getRepository(SmsMessage)
      .save([
        row(day(8), { status: 'queued', providerSid: null, segments: 4, attempts: 0, notBefore: new Date('2099-01-01T00:00:00Z') }),
        row(day(9), { status: 'queued', providerSid: null, segments: 5, errorCode: '20500', kind: SmsKind.Bulk }),
        row(day(10), { status: 'sending', providerSid: null, segments: 2, leaseUntil: new Date('2099-01-01T00:00:00Z') }),
        // Twilio's own `queued`: it has a SID, it left.
        row(day(11), { status: 'queued', segments: 1 }),
        row(day(12), { status: 'delivered', segments: 3 }),
      ]);
    const period = 'since=2026-02-01T00:00:00Z&until=2026-02-02T00:00:00Z';
    const res = await t.http.get(`/api/sms/stats?${period}`).set(auth(admin)).expect(200);
    expect(res.body).toMatchObject({ total: 5, byStatus: { queued: 3, sending: 1, delivered: 1 }, segmentsSent: 4 });
    const single = await t.http.get(`/api/sms/stats?${period}&kind=single`).set(auth(admin)).expect(200);
    expect(single.body).toMatchObject({ total: 4, segmentsSent: 4 });
    const bulk = await t.http.get(`/api/sms/stats?${period}&kind=bulk`).set(auth(admin)).expect(200);
    expect(bulk.body).toMatchObject({ total: 1, segmentsSent: 0 });
  });

  it('takes a period and filters by kind and category, explaining errors in the caller’s language', async () => {
    const period = 'since=2026-01-10T00:00:00Z&until=2026-01-12T00:00:00Z';
    const all = await t.http.get(`/api/sms/stats?${period}`).set(auth(admin)).set('Accept-Language', 'en').expect(200);
    expect(all.body).toMatchObject({
      total: 4,
      // 2026-01-10T23:30Z is 00:30 on the 11th in Paris: counted on the 11th.
      byDay: [
        { day: '2026-01-10', total: 2, byStatus: { delivered: 1, undelivered: 1 } },
        { day: '2026-01-11', total: 2, byStatus: { delivered: 1, failed: 1 } },
      ],
      deliveryRate: 0.5,
      segmentsSent: 5,
      optOutsGained: { total: 0, bySource: {} },
    });
    expect(all.body.topErrors).toEqual([
      { code: '30003', count: 1, explanation: 'Unreachable handset: switched off, out of coverage or without service.' },
      { code: '30005', count: 1, explanation: 'Unknown number: it does not exist or is no longer assigned.' },
    ]);
    const marketing = await t.http.get(`/api/sms/stats?${period}&category=marketing`).set(auth(admin)).expect(200);
    expect(marketing.body).toMatchObject({ total: 1, byStatus: { undelivered: 1 }, filters: { category: 'marketing' } });
    const bulk = await t.http.get(`/api/sms/stats?${period}&kind=bulk`).set(auth(admin)).expect(200);
    expect(bulk.body.total).toBe(1);
    const single = await t.http.get(`/api/sms/stats?${period}&kind=single&category=transactional`).set(auth(admin)).expect(200);
    expect(single.body).toMatchObject({ total: 3, deliveryRate: 0.6667 });
  });

  it('counts Paris days across the spring clock change (a 23-hour day), a date alone in the filter starting the Paris day', async () => {
    await t
      .get(DataSource)
      .getRepository(SmsMessage)
      .save([
        row(new Date('2026-03-28T22:59:00Z'), { category: 'marketing' }), // 23:59 on the 28th in Paris (+01:00)
        row(new Date('2026-03-28T23:30:00Z'), { category: 'marketing' }), // 00:30 on the 29th (+01:00)
        row(new Date('2026-03-29T21:59:00Z'), { category: 'marketing' }), // 23:59 on the 29th (+02:00)
        row(new Date('2026-03-29T22:30:00Z'), { category: 'marketing' }), // 00:30 on the 30th
      ]);
    const res = await t.http.get('/api/sms/stats?since=2026-03-28&until=2026-03-31&category=marketing').set(auth(admin)).expect(200);
    expect(res.body.byDay).toEqual([
      { day: '2026-03-28', total: 1, byStatus: { delivered: 1 } },
      { day: '2026-03-29', total: 2, byStatus: { delivered: 2 } },
      { day: '2026-03-30', total: 1, byStatus: { delivered: 1 } },
    ]);
    expect(res.body.since).toBe('2026-03-27T23:00:00.000Z');
    // Without since: 30 Paris days before until, not 30 × 24 h (the clocks changed in between).
    const defaulted = await t.http.get('/api/sms/stats?until=2026-04-15&category=marketing').set(auth(admin)).expect(200);
    expect(defaulted.body.since).toBe('2026-03-15T23:00:00.000Z');
  });

  it('refuses a bad period or filter with 400 naming the field; staff only', async () => {
    const bad = await t.http.get('/api/sms/stats?since=yesterday').set(auth(admin)).expect(400);
    expect(bad.body.details[0].field).toBe('since');
    const reversed = await t.http.get('/api/sms/stats?since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z').set(auth(admin)).expect(400);
    expect(reversed.body).toMatchObject({ message: 'since must be before until', details: [{ field: 'since' }] });
    const kindBad = await t.http.get('/api/sms/stats?kind=fax').set(auth(admin)).expect(400);
    expect(kindBad.body.details[0].field).toBe('kind');
    const user = await t.userWithRole(Role.User);
    await t.http.get('/api/sms/stats').set(auth(user.token)).expect(403);
  });
});

describeEachDatabase('SMS statistics in a zone of half-hour offset (DEFAULT_TIMEZONE=Asia/Kolkata)', (kind) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await TestApp.start(kind, { DEFAULT_TIMEZONE: 'Asia/Kolkata' });
  });
  afterAll(() => t?.close());

  it('counts its own days: 23:59 and 00:01 there fall on two days though they are in one UTC hour', async () => {
    const at = (iso: string) => row(new Date(iso));
    await t
      .get(DataSource)
      .getRepository(SmsMessage)
      .save([at('2026-01-10T18:29:00Z'), at('2026-01-10T18:31:00Z'), at('2026-01-11T10:00:00Z')]);
    const res = await t.http
      .get('/api/sms/stats?since=2026-01-10&until=2026-01-12')
      .set('Authorization', `Bearer ${await t.rootToken()}`)
      .expect(200);
    expect(res.body).toMatchObject({ timeZone: 'Asia/Kolkata', since: '2026-01-09T18:30:00.000Z', total: 3 });
    expect(res.body.byDay).toEqual([
      { day: '2026-01-10', total: 1, byStatus: { delivered: 1 } },
      { day: '2026-01-11', total: 2, byStatus: { delivered: 2 } },
    ]);
  });
});
