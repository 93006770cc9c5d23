import { DataSource, In } from 'typeorm';
import { DISPATCH_QUEUE, type DispatchQueue } from '../src/sms/dispatch/dispatch-queue.js';
import { SmsMessage } from '../src/sms/sms-message.entity.js';
import { Role } from '../src/users/role.enum.js';
import { describeEachDatabase } from './support/databases.js';
import { waitForBatch, waitForMessage } from './support/dispatch.js';
import { TestApp, twilioEnvironment } from './support/test-app.js';
import { testTwilioCredentials, TWILIO_MAGIC_NUMBERS, TwilioStandIn } from './support/twilio-stand-in.js';

const PUBLIC_BASE_URL = 'https://sms.example.test';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let counter = 0;
const nextPhone = () => `+3362${String(2_000_000 + ++counter * 53).padStart(7, '0')}`;

/** Every send path honours the opt-out list; Twilio's 21610 adds to it; sends ask Twilio for status callbacks. */
describeEachDatabase('Opt-outs on every send path', (kind) => {
  const credentials = testTwilioCredentials();
  let standIn: TwilioStandIn;
  let t: TestApp;
  let admin: string;
  const auth = () => ({ Authorization: `Bearer ${admin}` });
  const optOut = (phone: string) => t.http.post('/api/sms/opt-outs').set(auth()).send({ phone, reason: 'Courrier' }).expect(201);
  const sentTo = (phone: string) => standIn.requests.filter((r) => r.method === 'POST' && r.form?.To === phone);
  /** A sendAt an hour ahead: the message waits whatever the machine's speed, until dueNow(). */
  const inAnHour = () => new Date(Date.now() + 3_600_000).toISOString();
  /** Makes waiting messages due now through the database, as time passing would, and wakes the dispatcher. */
  const dueNow = async (ids: string[]) => {
    const messages = t.get(DataSource).getRepository(SmsMessage);
    await messages.update({ id: In(ids) }, { notBefore: new Date() });
    t.app.get<symbol, DispatchQueue>(DISPATCH_QUEUE).notify(ids.map((id) => ({ id, notBefore: null })));
  };

  beforeAll(async () => {
    standIn = await TwilioStandIn.start(credentials);
    t = await TestApp.start(kind, {
      ...twilioEnvironment(standIn, credentials.authToken),
      PUBLIC_BASE_URL,
      SMS_SEND_WAIT_MS: '4000',
      SMS_POLL_INTERVAL_MS: '100',
    });
    admin = (await t.userWithRole(Role.Admin)).token;
  });
  afterAll(async () => {
    await t?.close();
    await standIn?.stop();
  });

  it('asks Twilio for status callbacks at PUBLIC_BASE_URL/api/sms/webhooks/status', async () => {
    const phone = nextPhone();
    await t.http.post('/api/sms/send').set(auth()).send({ to: phone, message: 'Bonjour' }).expect(201);
    expect(sentTo(phone)[0].form).toMatchObject({ To: phone, StatusCallback: `${PUBLIC_BASE_URL}/api/sms/webhooks/status` });
  });

  /** A date as a person reads it in Paris, e.g. `27 novembre 2026 à 08:45`. */
  const inParis = (iso: string, locale: string) =>
    new Intl.DateTimeFormat(locale, { dateStyle: 'long', timeStyle: 'short', timeZone: 'Europe/Paris' }).format(new Date(iso));

  it('a single send or a notification to an opted-out number → 409 naming the opt-out and its date; stored as skipped, never sent', async () => {
    const phone = nextPhone();
    const added = await optOut(phone);
    const single = await t.http.post('/api/sms/send').set(auth()).send({ to: phone, message: 'Bonjour' }).expect(409);
    expect(single.body).toMatchObject({
      statusCode: 409,
      code: 'OPTED_OUT',
      to: phone,
      optedOutAt: added.body.optedOutAt,
      optOutSource: 'manual',
      message: expect.stringContaining(`${phone} s'est désabonné le ${inParis(added.body.optedOutAt, 'fr-FR')} (`),
    });
    const english = await t.http
      .post('/api/sms/notification')
      .set(auth())
      .set('Accept-Language', 'en')
      .send({ to: phone, type: 'dossier_updated', data: { name: 'Jean', reference: 'D-1' } })
      .expect(409);
    // The sentence writes the date as read in DEFAULT_TIMEZONE (Paris), not the raw ISO instant (optedOutAt keeps it).
    expect(english.body.message).toBe(
      `${phone} opted out on ${inParis(added.body.optedOutAt, 'en-GB')} (recorded by staff): no SMS is sent to it.`,
    );
    expect(english.body.message).not.toContain('T');
    const stored = await t.http.get(`/api/sms/messages/${single.body.messageId}`).set(auth()).expect(200);
    expect(stored.body).toMatchObject({
      status: 'skipped',
      errorCode: 'OPTED_OUT',
      providerSid: null,
      errorExplanation: expect.stringMatching(/^Non envoyé : le destinataire s'est désabonné/),
    });
    expect(stored.body.errorExplanation).not.toMatch(/twilio\.com/);
    // The journal says why it was not sent.
    const journal = await t.http.get('/api/audit?action=send_sms&limit=20').set(auth()).expect(200);
    const entry = journal.body.items.find((e: { metadata: { messageId?: string } }) => e.metadata.messageId === single.body.messageId);
    expect(entry?.metadata).toMatchObject({ to: phone, status: 'skipped', errorCode: 'OPTED_OUT', sid: null });
    expect(sentTo(phone)).toHaveLength(0);
  });

  it('a bulk recipient who opted out is skipped with that reason; the others go', async () => {
    const [out, ok] = [nextPhone(), nextPhone()];
    const added = await optOut(out);
    const res = await t.http
      .post('/api/sms/bulk')
      .set(auth())
      .send({ recipients: [{ phone: out }, { phone: ok }], message: 'Le cabinet sera fermé lundi' })
      .expect(202);
    expect(res.body).toMatchObject({ total: 2, queued: 1 });
    expect(res.body.invalid).toEqual([
      expect.objectContaining({ index: 0, phone: out, code: 'OPTED_OUT', message: expect.stringContaining(added.body.optedOutAt) }),
    ]);
    const batch = await waitForBatch(t, admin, res.body.batchId);
    expect(batch).toMatchObject({ counts: { sent: 1, skipped: 0 }, delivery: { total: 1, waiting: 1, delivered: 0 } });
    expect(sentTo(ok)).toHaveLength(1);
    expect(sentTo(out)).toHaveLength(0);
  });

  it('a batch recipient who opts out after acceptance is skipped, and listed with state=skipped', async () => {
    const [out, ok] = [nextPhone(), nextPhone()];
    const res = await t.http
      .post('/api/sms/bulk')
      .set(auth())
      .send({ recipients: [{ phone: out }, { phone: ok }], message: 'Rappel groupé', sendAt: inAnHour() })
      .expect(202);
    expect(res.body).toMatchObject({ total: 2, queued: 2 });
    await optOut(out);
    const listed = await t.http.get(`/api/sms/bulk/${res.body.batchId}/messages`).set(auth()).expect(200);
    expect(listed.body.items).toHaveLength(2);
    await dueNow(listed.body.items.map((m: { id: string }) => m.id));
    const batch = await waitForBatch(t, admin, res.body.batchId);
    expect(batch).toMatchObject({ counts: { sent: 1, skipped: 1 } });
    const skipped = await t.http.get(`/api/sms/bulk/${res.body.batchId}/messages?state=skipped`).set(auth()).expect(200);
    expect(skipped.body.items).toEqual([expect.objectContaining({ to: out, status: 'skipped', errorCode: 'OPTED_OUT' })]);
    expect(sentTo(out)).toHaveLength(0);
  });

  it('a queued message whose number opts out before it leaves is not sent (checked when it is claimed)', async () => {
    const phone = nextPhone();
    const res = await t.http.post('/api/sms/send').set(auth()).send({ to: phone, message: 'Rappel', sendAt: inAnHour() }).expect(202);
    await optOut(phone);
    await dueNow([res.body.id]);
    const stored = await waitForMessage(t, admin, res.body.id, (m) => m.status !== 'queued' && m.status !== 'sending', 15_000);
    expect(stored).toMatchObject({ status: 'skipped', errorCode: 'OPTED_OUT', providerSid: null });
    await sleep(300);
    expect(sentTo(phone)).toHaveLength(0);
  });

  it('an automatic appointment SMS to an opted-out client is recorded as skipped, visible on the appointment', async () => {
    const phone = nextPhone();
    await optOut(phone);
    const startsAt = new Date(Date.now() + 3 * 24 * 3600_000).toISOString();
    const created = await t.http
      .post('/api/appointments')
      .set(auth())
      .send({ clientName: 'Jean Dupont', clientPhone: phone, startsAt })
      .expect(201);
    await t.http
      .post(`/api/appointments/${created.body.id}/confirm`)
      .set(auth())
      .expect((r) => expect([200, 201]).toContain(r.status));
    let messages: { type: string; status: string; errorCode: string }[] = [];
    for (let i = 0; i < 100 && !messages.length; i++) {
      messages = (await t.http.get(`/api/appointments/${created.body.id}`).set(auth()).expect(200)).body.messages;
      if (!messages.length) await sleep(100);
    }
    expect(messages).toEqual([expect.objectContaining({ type: 'appointment_confirmed', status: 'skipped', errorCode: 'OPTED_OUT' })]);
    expect(sentTo(phone)).toHaveLength(0);
  });

  it("Twilio's 21610 (unsubscribed) puts the number on the list; the next send is refused before Twilio", async () => {
    const phone = TWILIO_MAGIC_NUMBERS.unsubscribed;
    const first = await t.http.post('/api/sms/send').set(auth()).send({ to: phone, message: 'Bonjour' });
    expect(first.body.code).toBe('21610');
    const list = await t.http
      .get(`/api/sms/opt-outs?phone=${encodeURIComponent(phone)}`)
      .set(auth())
      .expect(200);
    expect(list.body.items).toEqual([expect.objectContaining({ phone, source: 'twilio_21610' })]);
    const before = sentTo(phone).length;
    const second = await t.http.post('/api/sms/send').set(auth()).send({ to: phone, message: 'Bonjour' }).expect(409);
    expect(second.body).toMatchObject({ code: 'OPTED_OUT', optOutSource: 'twilio_21610' });
    expect(sentTo(phone)).toHaveLength(before);
  });
});
