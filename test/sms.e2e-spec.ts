import { Logger } from '@nestjs/common';
import { vi } from 'vitest';
import { Role } from '../src/users/role.enum.js';
import { describeEachDatabase } from './support/databases.js';
import { startDispatchApp, type DispatchApp } from './support/dispatch.js';
import { TestApp } from './support/test-app.js';
import { testTwilioCredentials, TWILIO_MAGIC_NUMBERS, TwilioStandIn } from './support/twilio-stand-in.js';

const BRIEF_SEND = { to: '+33612345678', message: 'Votre message SMS ici' };
const BRIEF_NOTIFICATION = {
  to: '+33612345678',
  type: 'appointment_confirmed',
  data: { name: 'Jean Dupont', date: 'lundi 15 janvier 2024', time: '14:30' },
};
const BRIEF_BULK = {
  recipients: [
    { phone: '+33612345678', name: 'Jean Dupont' },
    { phone: '+33687654321', name: 'Marie Martin' },
  ],
  message: 'Message pour tous les destinataires',
};

describeEachDatabase('SMS through Twilio', (kind) => {
  const credentials = testTwilioCredentials();
  let setup: DispatchApp | undefined;
  let standIn: TwilioStandIn;
  let t: TestApp;
  let admin: string;
  let user: string;
  const auth = (token: string) => ({ Authorization: `Bearer ${token}` });

  beforeAll(async () => {
    setup = await startDispatchApp(kind, {
      env: {
        SMS_BULK_MAX_RECIPIENTS: '5',
        // One attempt: Twilio's errors reach the caller at once, and no retry spills into the next test
        // (retries have their own suite: test/sms-dispatch.e2e-spec.ts).
        SMS_MAX_ATTEMPTS: '1',
        SMS_MAX_PER_SECOND: '1000',
      },
    });
    ({ standIn, t } = setup);
    admin = (await t.userWithRole(Role.Admin)).token;
    user = (await t.userWithRole(Role.User)).token;
  });
  afterAll(() => setup?.close());
  beforeEach(() => standIn.reset());

  /** Polls a batch until it is no longer running. */
  async function waitForBatch(batchId: string, timeoutMs = 20_000) {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const res = await t.http.get(`/api/sms/bulk/${batchId}`).set(auth(admin)).expect(200);
      if (res.body.status !== 'running' || Date.now() > until) return res.body;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  describe('POST /api/sms/send', () => {
    it("sends the brief's example through the SDK, stores and journals it", async () => {
      const res = await t.http.post('/api/sms/send').set(auth(admin)).send(BRIEF_SEND).expect(201);
      expect(res.body).toEqual({
        state: 'sent',
        id: expect.any(String),
        sid: expect.stringMatching(/^SM[0-9a-f]{32}$/),
        status: 'queued',
        to: '+33612345678',
        from: '+33700000000',
        segments: 1,
        encoding: 'GSM-7',
        ucs2Characters: [],
        provider: 'twilio',
        body: 'Votre message SMS ici',
      });
      expect(standIn.requests).toHaveLength(1);
      expect(standIn.requests[0].form).toMatchObject({ To: '+33612345678', From: '+33700000000', Body: 'Votre message SMS ici' });
      expect(standIn.requests[0].headers.authorization).toBe(
        `Basic ${Buffer.from(`${credentials.accountSid}:${credentials.authToken}`).toString('base64')}`,
      );

      const stored = await t.http.get(`/api/sms/messages/${res.body.id}`).set(auth(admin)).expect(200);
      expect(stored.body).toMatchObject({
        to: '+33612345678',
        body: 'Votre message SMS ici',
        status: 'queued',
        providerSid: res.body.sid,
        kind: 'single',
        provider: 'twilio',
      });

      const audit = await t.http.get('/api/audit?action=send_sms&limit=1').set(auth(admin)).expect(200);
      expect(audit.body.items[0]).toMatchObject({
        action: 'send_sms',
        actorRole: 'admin',
        metadata: { to: '+33612345678', message: 'Votre message SMS ici', status: 'queued', sid: res.body.sid, messageId: res.body.id },
      });
    });

    it.each(['0612345678', '06 12 34 56 78', '+33612345678', '0033612345678', '06.12.34.56.78'])(
      'normalises %s to +33612345678 before sending',
      async (to) => {
        const res = await t.http.post('/api/sms/send').set(auth(admin)).send({ to, message: 'Bonjour' }).expect(201);
        expect(res.body.to).toBe('+33612345678');
        expect(standIn.requests[0].form.To).toBe('+33612345678');
      },
    );

    it('reads a Réunion mobile written in the French national form (0692…) as +262, and sends it there', async () => {
      const res = await t.http.post('/api/sms/send').set(auth(admin)).send({ to: '0692123456', message: 'Bonjour' }).expect(201);
      expect(res.body.to).toBe('+262692123456');
      expect(standIn.requests).toHaveLength(1);
      expect(standIn.requests[0].form.To).toBe('+262692123456');
      const formatted = await t.http.post('/api/sms/format-phone').set(auth(user)).send({ phone: '0692123456' }).expect(200);
      expect(formatted.body).toMatchObject({ valid: true, e164: '+262692123456', country: 'RE', type: 'MOBILE' });
    });

    it('refuses a number that cannot be valid with 400, before calling Twilio', async () => {
      const res = await t.http.post('/api/sms/send').set(auth(admin)).send({ to: '06 12', message: 'Bonjour' }).expect(400);
      // With the problem's code, as a bulk's invalid entries carry it: a client can act on it as on Twilio's 21211.
      // And in plain words, as the brief's 21211 ("Le numéro de téléphone fourni est invalide"), in French by default.
      expect(res.body).toMatchObject({
        statusCode: 400,
        code: 'TOO_SHORT',
        details: [{ field: 'to', problems: [expect.stringMatching(/too short/)] }],
        explanation: 'Le numéro de téléphone fourni est invalide : il est trop court.',
        hint: expect.stringMatching(/^Vérifiez le format du numéro/),
      });
      const english = await t.http
        .post('/api/sms/send')
        .set(auth(admin))
        .set('Accept-Language', 'en-GB, fr;q=0.5')
        .send({ to: '06 12', message: 'Bonjour' })
        .expect(400);
      expect(english.body).toMatchObject({
        code: 'TOO_SHORT',
        explanation: 'The phone number given is invalid: it is too short.',
        hint: expect.stringMatching(/^Check the number format/),
      });
      const landline = await t.http.post('/api/sms/send').set(auth(admin)).send({ to: '0144556677', message: 'Bonjour' }).expect(400);
      expect(landline.body).toMatchObject({
        code: 'NOT_SMS_CAPABLE',
        details: [{ field: 'to' }],
        explanation: expect.stringMatching(/ne peut pas recevoir de SMS/),
        hint: 'Utilisez un numéro de mobile.',
      });
      const notification = await t.http
        .post('/api/sms/notification')
        .set(auth(admin))
        .send({ to: '+33 6', type: 'appointment_confirmed', data: { name: 'Jean', date: 'lundi 15 janvier', time: '14:30' } })
        .expect(400);
      expect(notification.body).toMatchObject({
        details: [{ field: 'to' }],
        explanation: expect.stringMatching(/^Le numéro de téléphone fourni est invalide/),
      });
      expect(standIn.requests).toHaveLength(0);
    });

    it('stores every one of many concurrent sends with its own outcome (group-committed writes)', async () => {
      standIn.setBehaviour({ failRate: 0.25, failStatus: 500 });
      const answers = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          t.http
            .post('/api/sms/send')
            .set(auth(admin))
            .send({ to: `+336123457${String(i).padStart(2, '0')}`, message: `n${i}` }),
        ),
      );
      expect(answers.filter((a) => a.status === 201)).toHaveLength(30);
      expect(answers.filter((a) => a.status === 502)).toHaveLength(10);
      for (const answer of answers) {
        const id = answer.body.id ?? answer.body.messageId;
        const stored = await t.http.get(`/api/sms/messages/${id}`).set(auth(admin)).expect(200);
        if (answer.status === 201)
          expect(stored.body).toMatchObject({ status: 'queued', providerSid: answer.body.sid, to: answer.body.to });
        else expect(stored.body).toMatchObject({ status: 'failed', errorCode: '20500', providerSid: null });
      }
      const audit = await t.http.get('/api/audit?action=send_sms&limit=40').set(auth(admin)).expect(200);
      const journaled = new Set(audit.body.items.map((e: { metadata: { messageId: string } }) => e.metadata.messageId));
      for (const answer of answers) expect(journaled.has(answer.body.id ?? answer.body.messageId)).toBe(true);
    });

    it('refuses missing fields, unknown fields and bodies over 1600 characters', async () => {
      const missing = await t.http.post('/api/sms/send').set(auth(admin)).send({ to: '+33612345678' }).expect(400);
      expect(missing.body.details.map((d: { field: string }) => d.field)).toEqual(['message']);
      await t.http
        .post('/api/sms/send')
        .set(auth(admin))
        .send({ ...BRIEF_SEND, priority: 'high' })
        .expect(400);
      const long = await t.http
        .post('/api/sms/send')
        .set(auth(admin))
        .send({ to: '+33612345678', message: 'a'.repeat(1601) })
        .expect(400);
      expect(long.body.message).toMatch(/1600/);
      // A notification: the rendered text is too long, not `data` (which is a few names).
      const rendered = await t.http
        .post('/api/sms/notification')
        .set(auth(admin))
        .send({ to: '+33612345678', type: 'dossier_updated', data: { name: 'x'.repeat(1700) } })
        .expect(400);
      expect(rendered.body.message).toMatch(/^the message rendered from data is \d+ characters long; Twilio accepts at most 1600$/);
      expect(rendered.body.details).toEqual([expect.objectContaining({ field: 'data' })]);
      await t.http
        .post('/api/sms/send')
        .set(auth(admin))
        .send({ to: '+33612345678', message: 'a'.repeat(1600) })
        .expect(201);
      expect(standIn.requests).toHaveLength(1);
    });
  });

  describe('segments and encoding', () => {
    const send = (message: string) => t.http.post('/api/sms/send').set(auth(admin)).send({ to: '+33612345678', message }).expect(201);

    it('counts GSM-7 at 160 per single SMS and 153 per part', async () => {
      expect((await send('a'.repeat(160))).body).toMatchObject({ encoding: 'GSM-7', segments: 1 });
      expect((await send('a'.repeat(161))).body).toMatchObject({ encoding: 'GSM-7', segments: 2 });
      expect((await send('é'.repeat(306))).body).toMatchObject({ encoding: 'GSM-7', segments: 2 });
    });

    it('counts extension characters such as € and { twice', async () => {
      expect((await send('€'.repeat(80))).body).toMatchObject({ encoding: 'GSM-7', segments: 1 });
      expect((await send('{'.repeat(81))).body).toMatchObject({ encoding: 'GSM-7', segments: 2 });
    });

    it('names the characters that force UCS-2 and what they cost', async () => {
      const res = await send('Rappel : votre rendez-vous est confirmé, à la fête de fin d’année nous serons fermés pour deux jours.');
      expect(res.body).toMatchObject({ encoding: 'UCS-2', segments: 2, ucs2Characters: ['ê', '’'] });
      expect(res.body.encodingNote).toMatch(/UCS-2 because of ê ’: 2 segments \(1 segment without them\)/);
      expect((await send('😀'.repeat(35))).body).toMatchObject({ encoding: 'UCS-2', segments: 1 });
      expect((await send('😀'.repeat(36))).body).toMatchObject({ encoding: 'UCS-2', segments: 2 });
    });

    it('sends accents typed as separate marks composed (GSM-7), and writes a pasted name inline', async () => {
      // "Hélène" as macOS writes it: e + U+0301, e + U+0300 (UCS-2 as they are).
      const composed = await send('Bonjour He\u0301le\u0300ne');
      expect(composed.body).toMatchObject({ encoding: 'GSM-7', segments: 1, body: 'Bonjour Hélène' });
      expect(standIn.messages.at(-1)!.body).toBe('Bonjour Hélène');
      // A no-break space and a tab in a template's value: one plain space, GSM-7, one segment.
      const notification = await t.http
        .post('/api/sms/notification')
        .set(auth(admin))
        .send({ to: '+33612345678', type: 'dossier_updated', data: { name: 'Jean\u00a0Dupont\tBis' } })
        .expect(201);
      expect(notification.body).toMatchObject({ encoding: 'GSM-7', segments: 1 });
      expect(notification.body.body).toMatch(/^Bonjour Jean Dupont Bis, /);
    });
  });

  describe("Twilio's errors", () => {
    const cases: [string, number, number][] = [
      [TWILIO_MAGIC_NUMBERS.invalid, 21211, 400],
      [TWILIO_MAGIC_NUMBERS.unverifiedTrial, 21608, 403],
      [TWILIO_MAGIC_NUMBERS.regionNotEnabled, 21408, 403],
      [TWILIO_MAGIC_NUMBERS.unsubscribed, 21610, 403],
      [TWILIO_MAGIC_NUMBERS.notMobile, 21614, 422],
      [TWILIO_MAGIC_NUMBERS.cannotRoute, 21612, 422],
    ];
    it.each(cases)(
      '%s → Twilio %i → HTTP %i with the code, link and a French explanation; stored and journaled',
      async (to, code, status) => {
        const res = await t.http.post('/api/sms/send').set(auth(admin)).send({ to, message: 'Bonjour' }).expect(status);
        expect(res.body).toMatchObject({
          statusCode: status,
          code: String(code),
          more_info: `https://www.twilio.com/docs/errors/${code}`,
          message: expect.any(String),
          hint: expect.any(String),
          messageId: expect.any(String),
        });
        // A refusal of the number itself names the field, as a number refused before Twilio does.
        if ([21211, 21612, 21614].includes(code)) expect(res.body.details).toEqual([{ field: 'to', problems: [res.body.message] }]);
        else expect(res.body.details).toBeUndefined();
        const stored = await t.http.get(`/api/sms/messages/${res.body.messageId}`).set(auth(admin)).expect(200);
        expect(stored.body).toMatchObject({ status: 'failed', errorCode: String(code) });
        const audit = await t.http.get('/api/audit?action=send_sms&limit=1').set(auth(admin)).expect(200);
        expect(audit.body.items[0].metadata).toMatchObject({ to, status: 'failed', errorCode: String(code), sid: null });
      },
    );

    it('explains in French by default and in English on request', async () => {
      const fr = await t.http.post('/api/sms/send').set(auth(admin)).send({ to: TWILIO_MAGIC_NUMBERS.invalid, message: 'x' }).expect(400);
      expect(fr.body.message).toBe('Le numéro de téléphone fourni est invalide.');
      expect(fr.body.hint).toMatch(/Vérifiez le format/);
      const en = await t.http
        .post('/api/sms/send')
        .set(auth(admin))
        .set('Accept-Language', 'en-GB,en;q=0.8')
        .send({ to: TWILIO_MAGIC_NUMBERS.invalid, message: 'x' })
        .expect(400);
      expect(en.body.message).toBe('The phone number given is invalid.');
    });

    it('answers refused credentials (20003) with 502 without leaking them', async () => {
      standIn.setBehaviour({ authFails: true });
      const res = await t.http.post('/api/sms/send').set(auth(admin)).send(BRIEF_SEND).expect(502);
      expect(res.body).toMatchObject({ code: '20003', more_info: 'https://www.twilio.com/docs/errors/20003' });
      const everything = JSON.stringify(res.body) + JSON.stringify((await t.http.get('/api/audit?limit=5').set(auth(admin))).body);
      expect(everything).not.toContain(credentials.authToken);
      expect(everything).not.toContain(Buffer.from(`${credentials.accountSid}:${credentials.authToken}`).toString('base64'));
    });

    it('answers a Twilio rate limit with 503 and Retry-After', async () => {
      standIn.setBehaviour({ failRate: 1, failStatus: 429, retryAfterSeconds: 7 });
      const res = await t.http.post('/api/sms/send').set(auth(admin)).send(BRIEF_SEND).expect(503);
      expect(res.headers['retry-after']).toBe('7');
      expect(res.body.code).toBe('20429');
    });

    it('a last attempt that timed out while Twilio was still creating the message: adopted a timeout later, not failed, sent once', async () => {
      // One attempt (SMS_MAX_ATTEMPTS=1); the stand-in creates the message 2 s after the call, the app gave up at
      // TWILIO_TIMEOUT_MS (1.5 s). The look-up waits one more timeout, finds it, and adopts it.
      standIn.setBehaviour({ delayMs: 2000 });
      const answer = t.http
        .post('/api/sms/send')
        .set(auth(admin))
        .send(BRIEF_SEND)
        .then((r) => r);
      // Once the call has arrived (its answer delayed), requests after it (the look-up) are answered at once.
      await vi.waitFor(() => expect(standIn.requests.filter((r) => r.method === 'POST')).toHaveLength(1), {
        timeout: 10_000,
        interval: 10,
      });
      standIn.setBehaviour({});
      const res = await answer;
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({ state: 'sent', sid: standIn.messages[0]?.sid });
      expect(standIn.messages).toHaveLength(1);
      expect(standIn.requests.filter((r) => r.method === 'POST')).toHaveLength(1);
      const stored = await t.http.get(`/api/sms/messages/${res.body.id}`).set(auth(admin)).expect(200);
      expect(stored.body).toMatchObject({ providerSid: res.body.sid, attempts: 2, errorCode: null });
    });

    it('answers a Twilio 5xx with 502 and a timeout with 504', async () => {
      standIn.setBehaviour({ failRate: 1, failStatus: 500 });
      expect((await t.http.post('/api/sms/send').set(auth(admin)).send(BRIEF_SEND).expect(502)).body.code).toBe('20500');
      standIn.setBehaviour({ hang: true });
      const timeout = await t.http.post('/api/sms/send').set(auth(admin)).send(BRIEF_SEND).expect(504);
      expect(timeout.body).toMatchObject({ code: 'TIMEOUT', hint: expect.stringMatching(/peut-être/) });
      const stored = await t.http.get(`/api/sms/messages/${timeout.body.messageId}`).set(auth(admin)).expect(200);
      expect(stored.body).toMatchObject({ status: 'failed', errorCode: 'TIMEOUT' });
    });
  });

  describe('POST /api/sms/notification', () => {
    it("renders the brief's example in French and journals send_notification_sms", async () => {
      const res = await t.http.post('/api/sms/notification').set(auth(admin)).send(BRIEF_NOTIFICATION).expect(201);
      const body = standIn.requests[0].form.Body;
      expect(res.body.body).toBe(body);
      expect(body).toContain('Jean Dupont');
      expect(body).toContain('lundi 15 janvier 2024');
      expect(body).toContain('14:30');
      expect(body).not.toMatch(/undefined|null|\{\{|\}\}/);
      const audit = await t.http.get('/api/audit?action=send_notification_sms&limit=1').set(auth(admin)).expect(200);
      expect(audit.body.items[0].metadata).toMatchObject({
        type: 'appointment_confirmed',
        to: '+33612345678',
        message: body,
        sid: res.body.sid,
      });
      const stored = await t.http.get(`/api/sms/messages?type=appointment_confirmed`).set(auth(admin)).expect(200);
      expect(stored.body.items[0]).toMatchObject({
        id: res.body.id,
        kind: 'notification',
        templateType: 'appointment_confirmed',
        locale: 'fr',
      });
    });

    it('writes an ISO startsAt in French and in Paris time, or in English on request', async () => {
      await t.http
        .post('/api/sms/notification')
        .set(auth(admin))
        .send({ to: '0612345678', type: 'appointment_reminder', data: { name: 'Jean', startsAt: '2024-01-15T13:30:00Z' } })
        .expect(201);
      expect(standIn.requests[0].form.Body).toMatch(/lundi 15 janvier 2024.*14:30/);
      await t.http
        .post('/api/sms/notification')
        .set(auth(admin))
        .send({ to: '0612345678', type: 'appointment_reminder', locale: 'en', data: { name: 'Jean', startsAt: '2024-01-15T13:30:00Z' } })
        .expect(201);
      expect(standIn.requests[1].form.Body).toMatch(/Monday, January 15, 2024.*2:30 PM/);
    });

    it("writes startsAt in the client's own zone when its number's territory has one (Martinique, Réunion), the day included", async () => {
      const startsAt = '2026-11-28T02:51:00Z'; // Paris: samedi 28 à 03:51
      for (const [to, expected] of [
        ['+596696123456', /vendredi 27 novembre 2026 à 22:51/],
        ['+262692123456', /samedi 28 novembre 2026 à 06:51/],
        ['+33612345678', /samedi 28 novembre 2026 à 03:51/],
      ] as const) {
        const res = await t.http
          .post('/api/sms/notification')
          .set(auth(admin))
          .send({ to, type: 'appointment_reminder', data: { name: 'Jean', startsAt } })
          .expect(201);
        expect(res.body.body, to).toMatch(expected);
      }
    });

    it('stores the locale the text was written in, not as written: a 10-character tag is no 500 on PostgreSQL', async () => {
      const sends = await Promise.all(
        ['en-GB-oed', 'fr-x-priv', ' EN '].map((locale) =>
          t.http
            .post('/api/sms/notification')
            .set(auth(admin))
            .send({ to: '0612345678', type: 'dossier_updated', locale, data: { name: 'Jean Dupont' } }),
        ),
      );
      expect(sends.map((res) => res.status)).toEqual([201, 201, 201]);
      const stored = await Promise.all(sends.map((res) => t.http.get(`/api/sms/messages/${res.body.id}`).set(auth(admin)).expect(200)));
      expect(stored.map((res) => res.body.locale)).toEqual(['en', 'fr', 'en']);
    });

    it('sends the three other types without their optional fields', async () => {
      for (const type of ['dossier_updated', 'document_uploaded', 'message_received']) {
        await t.http
          .post('/api/sms/notification')
          .set(auth(admin))
          .send({ to: '0612345678', type, data: { name: 'Jean Dupont' } })
          .expect(201);
      }
      for (const request of standIn.requests) expect(request.form.Body).not.toMatch(/undefined|null|\{\{|\}\}/);
    });

    it.each([
      [
        "a field the type does not declare (a misspelt optional one), naming it and the type's fields",
        'appointment_confirmed',
        { name: 'Jean', startsAt: '2030-01-15T14:30:00+01:00', locaton: 'Lyon' },
        'data.locaton',
        'data.locaton is not a field of appointment_confirmed; its fields: name, date, time, startsAt, location',
      ],
      [
        'startsAt given with date or time as text (they could disagree), naming the field',
        'appointment_reminder',
        { name: 'Jean', date: 'demain', startsAt: '2030-01-15T14:30:00+01:00' },
        'data.date',
        'data.date and data.startsAt were both given; give either startsAt or date and time as text, not both',
      ],
    ])('refuses %s; nothing sent', async (_what, type, data, field, problem) => {
      const before = standIn.requests.length;
      const res = await t.http.post('/api/sms/notification').set(auth(admin)).send({ to: '0612345678', type, data }).expect(400);
      expect(res.body.details).toEqual([{ field, problems: [problem] }]);
      expect(standIn.requests.length).toBe(before);
    });

    it('names a missing field and lists the types for an unknown one', async () => {
      const missing = await t.http
        .post('/api/sms/notification')
        .set(auth(admin))
        .send({ to: '0612345678', type: 'appointment_confirmed', data: { name: 'Jean' } })
        .expect(400);
      expect(missing.body.message).toMatch(/date|startsAt/);
      expect(missing.body.details[0].field).toMatch(/^data\./);
      const noName = await t.http
        .post('/api/sms/notification')
        .set(auth(admin))
        .send({ to: '0612345678', type: 'dossier_updated', data: {} })
        .expect(400);
      expect(noName.body.details[0].field).toBe('data.name');
      const unknown = await t.http
        .post('/api/sms/notification')
        .set(auth(admin))
        .send({ to: '0612345678', type: 'birthday', data: { name: 'Jean' } })
        .expect(400);
      expect(unknown.body.message).toContain(
        'appointment_confirmed, appointment_reminder, appointment_cancelled, dossier_updated, document_uploaded, message_received',
      );
      expect(standIn.requests).toHaveLength(0);
    });

    it('lists the templates with their fields and a rendered example', async () => {
      const res = await t.http.get('/api/sms/templates').set(auth(admin)).expect(200);
      expect(res.body.map((x: { type: string }) => x.type)).toEqual([
        'appointment_confirmed',
        'appointment_reminder',
        'appointment_cancelled',
        'dossier_updated',
        'document_uploaded',
        'message_received',
      ]);
      for (const template of res.body) {
        expect(template.fields.some((f: { name: string }) => f.name === 'name')).toBe(true);
        expect(template.example.text).not.toMatch(/undefined|null|\{\{|\}\}/);
      }
    });
  });

  describe('POST /api/sms/bulk', () => {
    it("accepts the brief's example at once (202), sends it in the background and journals acceptance and end", async () => {
      const res = await t.http.post('/api/sms/bulk').set(auth(admin)).send(BRIEF_BULK).expect(202);
      expect(res.body).toEqual({
        batchId: expect.any(String),
        status: 'running',
        provider: 'twilio',
        total: 2,
        queued: 2,
        segments: 2,
        encoding: 'GSM-7',
        ucs2Characters: [],
        ucs2Messages: 0,
        notBefore: null,
        category: 'transactional',
        stopMentionAppended: false,
        invalid: [],
        duplicates: [],
      });
      const batch = await waitForBatch(res.body.batchId);
      expect(batch).toMatchObject({ status: 'completed', total: 2, accepted: 2, counts: { sent: 2, failed: 0, queued: 0 }, progress: 1 });
      expect(batch.startedAt).toEqual(expect.any(String));
      expect(batch.finishedAt).toEqual(expect.any(String));
      expect(standIn.requests.map((r) => r.form.To).sort()).toEqual(['+33612345678', '+33687654321']);
      const audit = await t.http.get('/api/audit?action=send_bulk_sms&limit=5').set(auth(admin)).expect(200);
      const entries = audit.body.items.filter((e: { metadata: { batchId: string } }) => e.metadata.batchId === res.body.batchId);
      const phases = Object.fromEntries(entries.map((e: { metadata: { phase: string } }) => [e.metadata.phase, e]));
      expect(phases.accepted.metadata).toMatchObject({ total: 2, queued: 2, message: BRIEF_BULK.message });
      expect(phases.accepted.actorRole).toBe('admin');
      expect(phases.finished.metadata).toMatchObject({ total: 2, sent: 2, failed: 0, status: 'completed' });
      const stored = await t.http.get('/api/sms/messages?type=bulk').set(auth(admin)).expect(200);
      expect(stored.body.items.filter((m: { batchId: string }) => m.batchId === res.body.batchId)).toHaveLength(2);
    });

    it('says what forces UCS-2 in a bulk: in the text as written, and how many messages are UCS-2 by their names', async () => {
      const written = await t.http
        .post('/api/sms/bulk')
        .set(auth(admin))
        .send({ recipients: [{ phone: '0612345678', name: 'Jean' }], message: 'Bonjour {{name}}, la fête est demain' })
        .expect(202);
      expect(written.body).toMatchObject({ encoding: 'UCS-2', ucs2Characters: ['ê'], ucs2Messages: 1, segments: 1 });
      expect(written.body.encodingNote).toMatch(/^UCS-2 because of ê: /);
      const byName = await t.http
        .post('/api/sms/bulk')
        .set(auth(admin))
        .send({
          recipients: [
            { phone: '0612345678', name: 'Jean' },
            { phone: '0687654321', name: 'Gaëtan' },
          ],
          message: 'Bonjour {{name}}',
        })
        .expect(202);
      expect(byName.body).toMatchObject({ encoding: 'GSM-7', ucs2Characters: [], ucs2Messages: 1 });
      expect(byName.body.encodingNote).toBeUndefined();
      await waitForBatch(written.body.batchId);
      await waitForBatch(byName.body.batchId);
    });

    it("lists a batch's messages in the order of its recipients, page after page", async () => {
      // Numbers in no sorted order, sent later so that nothing moves while they are read.
      // (This app allows 5 recipients per bulk.)
      const phones = ['+33698765432', '+33612345670', '+33687654321', '+33600000001', '+33655555555'];
      const sendAt = new Date(Date.now() + 3_600_000).toISOString();
      const res = await t.http
        .post('/api/sms/bulk')
        .set(auth(admin))
        .send({ recipients: phones.map((phone) => ({ phone })), message: 'Ordre', sendAt })
        .expect(202);
      const listed: string[] = [];
      for (const page of [1, 2, 3]) {
        const got = await t.http.get(`/api/sms/bulk/${res.body.batchId}/messages?limit=2&page=${page}`).set(auth(admin)).expect(200);
        listed.push(...got.body.items.map((m: { to: string }) => m.to));
      }
      expect(listed).toEqual(phones);
      await t.http.post(`/api/sms/bulk/${res.body.batchId}/cancel`).set(auth(admin)).expect(200);
    });

    it('a batch with nothing to send (every recipient invalid or repeated) ends at once and journals its end', async () => {
      const res = await t.http
        .post('/api/sms/bulk')
        .set(auth(admin))
        .send({ recipients: [{ phone: '12' }, { phone: 'abc' }, { phone: '12' }], message: 'Bonjour' })
        .expect(202);
      expect(res.body).toMatchObject({ status: 'completed', total: 3, queued: 0 });
      expect(res.body.invalid).toHaveLength(3);
      const batch = await t.http.get(`/api/sms/bulk/${res.body.batchId}`).set(auth(admin)).expect(200);
      expect(batch.body).toMatchObject({ status: 'completed', total: 3, accepted: 0, progress: 1, finishedAt: expect.any(String) });
      const audit = await t.http.get('/api/audit?action=send_bulk_sms&limit=10').set(auth(admin)).expect(200);
      const phases = audit.body.items
        .filter((e: { metadata: { batchId: string } }) => e.metadata.batchId === res.body.batchId)
        .map((e: { metadata: Record<string, unknown> }) => e.metadata);
      expect(phases).toHaveLength(2);
      expect(phases.find((m: { phase: string }) => m.phase === 'finished')).toMatchObject({
        status: 'completed',
        total: 3,
        accepted: 0,
        invalid: 3,
        sent: 0,
        queued: 0,
        finishedAt: batch.body.finishedAt,
      });
      expect(standIn.requests).toHaveLength(0);
    });

    it('journals a send asked for later when it is accepted (sms_scheduled, with its sendAt), and once as a send when it ends', async () => {
      const later = new Date(Date.now() + 2 * 60 * 60_000);
      const res = await t.http
        .post('/api/sms/send')
        .set(auth(admin))
        .send({ to: '0611223399', message: 'Rappel pour plus tard', sendAt: later.toISOString() })
        .expect(202);
      const entries = async (action: string) =>
        (
          (await t.http.get(`/api/audit?action=${action}&limit=50`).set(auth(admin)).expect(200)).body.items as { targetId: string }[]
        ).filter((e) => e.targetId === res.body.id);
      expect(await entries('sms_scheduled')).toEqual([
        expect.objectContaining({
          action: 'sms_scheduled',
          actorRole: 'admin',
          targetType: 'sms_message',
          metadata: {
            messageId: res.body.id,
            kind: 'single',
            to: '+33611223399',
            message: 'Rappel pour plus tard',
            provider: 'twilio',
            sendAt: later.toISOString(),
          },
        }),
      ]);
      expect(await entries('send_sms')).toEqual([]);
      await t.http.post(`/api/sms/messages/${res.body.id}/cancel`).set(auth(admin)).expect(200);
      expect(await entries('send_sms')).toEqual([
        expect.objectContaining({ metadata: expect.objectContaining({ status: 'cancelled', sid: null }) }),
      ]);
      expect(await entries('sms_scheduled')).toHaveLength(1);
    });

    it('journals who cancelled (sms_cancelled), not only who sent: a message and a batch cancelled by another admin', async () => {
      const other = await t.userWithRole(Role.Admin);
      const later = new Date(Date.now() + 60 * 60_000).toISOString();
      const single = await t.http.post('/api/sms/send').set(auth(admin)).send({ to: '0611223344', message: 'Plus tard', sendAt: later });
      expect(single.status).toBe(202);
      const bulk = await t.http
        .post('/api/sms/bulk')
        .set(auth(admin))
        .send({ recipients: [{ phone: '0611223355' }, { phone: '0611223366' }], message: 'Plus tard', sendAt: later })
        .expect(202);
      await t.http.post(`/api/sms/messages/${single.body.id}/cancel`).set(auth(other.token)).expect(200);
      await t.http.post(`/api/sms/bulk/${bulk.body.batchId}/cancel`).set(auth(other.token)).expect(200);
      // Refused cancellations (already cancelled) journal nothing more.
      await t.http.post(`/api/sms/messages/${single.body.id}/cancel`).set(auth(admin)).expect(409);
      await t.http.post(`/api/sms/bulk/${bulk.body.batchId}/cancel`).set(auth(admin)).expect(409);

      const audit = await t.http.get('/api/audit?action=sms_cancelled&limit=20').set(auth(admin)).expect(200);
      const mine = audit.body.items.filter((e: { targetId: string }) => e.targetId === single.body.id || e.targetId === bulk.body.batchId);
      expect(mine).toHaveLength(2);
      expect(mine).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            actorEmail: other.email,
            targetType: 'sms_message',
            targetId: single.body.id,
            metadata: { messageId: single.body.id, batchId: null, kind: 'single' },
          }),
          expect.objectContaining({
            actorEmail: other.email,
            targetType: 'sms_batch',
            targetId: bulk.body.batchId,
            metadata: { batchId: bulk.body.batchId, cancelled: 2 },
          }),
        ]),
      );
      // The send's own final entry still names who sent it.
      const sends = await t.http.get('/api/audit?action=send_sms&limit=50').set(auth(admin)).expect(200);
      const ended = sends.body.items.find((e: { targetId: string }) => e.targetId === single.body.id);
      expect(ended).toMatchObject({ actorRole: 'admin', metadata: expect.objectContaining({ status: 'cancelled' }) });
      expect(ended.actorEmail).not.toBe(other.email);
      expect(standIn.requests.filter((r) => ['+33611223344', '+33611223355', '+33611223366'].includes(String(r.form.To)))).toHaveLength(0);
    });

    it('cancelled by several admins at once: one 200 and one sms_cancelled entry per message and per batch, 409 for the others', async () => {
      const others = await Promise.all([t.userWithRole(Role.Admin), t.userWithRole(Role.Admin), t.userWithRole(Role.Admin)]);
      const later = new Date(Date.now() + 60 * 60_000).toISOString();
      const single = await t.http.post('/api/sms/send').set(auth(admin)).send({ to: '0611224411', message: 'Plus tard', sendAt: later });
      const bulk = await t.http
        .post('/api/sms/bulk')
        .set(auth(admin))
        .send({ recipients: [{ phone: '0611224422' }, { phone: '0611224433' }], message: 'Plus tard', sendAt: later })
        .expect(202);
      const [messageCancels, batchCancels] = await Promise.all([
        Promise.all(others.map((o) => t.http.post(`/api/sms/messages/${single.body.id}/cancel`).set(auth(o.token)))),
        Promise.all(others.map((o) => t.http.post(`/api/sms/bulk/${bulk.body.batchId}/cancel`).set(auth(o.token)))),
      ]);
      expect(messageCancels.map((r) => r.status).sort()).toEqual([200, 409, 409]);
      expect(batchCancels.map((r) => r.status).sort()).toEqual([200, 409, 409]);
      for (const refused of batchCancels.filter((r) => r.status === 409)) expect(refused.body.currentStatus).toBe('cancelled');
      const audit = await t.http.get('/api/audit?action=sms_cancelled&limit=100').set(auth(admin)).expect(200);
      const forMessage = audit.body.items.filter((e: { targetId: string }) => e.targetId === single.body.id);
      const forBatch = audit.body.items.filter((e: { targetId: string }) => e.targetId === bulk.body.batchId);
      expect(forMessage).toHaveLength(1);
      expect(forBatch).toHaveLength(1);
      expect(forBatch[0].metadata).toEqual({ batchId: bulk.body.batchId, cancelled: 2 });
      // The one journaled is the one who got 200.
      expect(forMessage[0].actorEmail).toBe(others[messageCancels.findIndex((r) => r.status === 200)].email);
      expect(forBatch[0].actorEmail).toBe(others[batchCancels.findIndex((r) => r.status === 200)].email);
    });

    it('personalises {{name}}, deduplicates by normalised number, and reports invalid and failed members alone', async () => {
      const res = await t.http
        .post('/api/sms/bulk')
        .set(auth(admin))
        .send({
          recipients: [
            { phone: '06 12 34 56 78', name: 'Jean' },
            { phone: '+33612345678', name: 'Jean again' },
            { phone: '12', name: 'Broken' },
            { phone: TWILIO_MAGIC_NUMBERS.invalid, name: 'Refused' },
            { phone: '0687654321' },
          ],
          message: 'Bonjour {{name}}, votre dossier est prêt.',
        })
        .expect(202);
      expect(res.body).toMatchObject({ total: 5, queued: 3 });
      expect(res.body.duplicates).toEqual([{ index: 1, phone: '+33612345678', to: '+33612345678' }]);
      expect(res.body.invalid).toEqual([
        { index: 2, phone: '12', name: 'Broken', code: 'TOO_SHORT', message: expect.stringMatching(/too short/) },
      ]);
      const batch = await waitForBatch(res.body.batchId);
      expect(batch.counts).toMatchObject({ sent: 2, failed: 1 });
      const failed = await t.http.get(`/api/sms/bulk/${res.body.batchId}/messages?state=failed`).set(auth(admin)).expect(200);
      expect(failed.body.items).toHaveLength(1);
      expect(failed.body.items[0]).toMatchObject({ to: TWILIO_MAGIC_NUMBERS.invalid, status: 'failed', errorCode: '21211' });
      const bodies = Object.fromEntries(standIn.requests.map((r) => [r.form.To, r.form.Body]));
      expect(bodies['+33612345678']).toBe('Bonjour Jean, votre dossier est prêt.');
      expect(bodies['+33687654321']).toBe('Bonjour, votre dossier est prêt.');
    });

    it('refuses more recipients than SMS_BULK_MAX_RECIPIENTS, and an empty list', async () => {
      const recipients = Array.from({ length: 6 }, (_, i) => ({ phone: `+3361234567${i}` }));
      const res = await t.http.post('/api/sms/bulk').set(auth(admin)).send({ recipients, message: 'x' }).expect(400);
      expect(res.body.message).toMatch(/at most 5/);
      await t.http.post('/api/sms/bulk').set(auth(admin)).send({ recipients: [], message: 'x' }).expect(400);
      expect(standIn.requests).toHaveLength(0);
    });
  });

  describe('POST /api/sms/format-phone', () => {
    it.each(['0612345678', '06 12 34 56 78', '+33612345678', '0033612345678', '06.12.34.56.78'])(
      'formats %s for any signed-in user',
      async (phone) => {
        const res = await t.http.post('/api/sms/format-phone').set(auth(user)).send({ phone }).expect(200);
        expect(res.body).toEqual({
          input: phone,
          e164: '+33612345678',
          valid: true,
          country: 'FR',
          type: 'MOBILE',
          national: '06 12 34 56 78',
          international: '+33 6 12 34 56 78',
        });
      },
    );

    it('says why a number cannot be valid, and takes another country', async () => {
      const bad = await t.http.post('/api/sms/format-phone').set(auth(user)).send({ phone: '0612' }).expect(200);
      expect(bad.body).toMatchObject({ valid: false, e164: null, reason: { code: 'TOO_SHORT' } });
      const be = await t.http.post('/api/sms/format-phone').set(auth(user)).send({ phone: '0470123456', country: 'BE' }).expect(200);
      expect(be.body).toMatchObject({ valid: true, e164: '+32470123456', country: 'BE' });
      const lower = await t.http.post('/api/sms/format-phone').set(auth(user)).send({ phone: '0470123456', country: 'be' }).expect(200);
      expect(lower.body).toMatchObject({ valid: true, e164: '+32470123456' });
    });

    it('refuses a country libphonenumber has no numbering plan for with 400 naming country (not valid: false)', async () => {
      for (const country of ['XX', 'AQ', 'FRA', 12]) {
        const res = await t.http.post('/api/sms/format-phone').set(auth(user)).send({ phone: '0612345678', country }).expect(400);
        expect(res.body.details).toEqual([
          { field: 'country', problems: ['country must be the two-letter ISO code of a country with phone numbers, such as FR'] },
        ]);
      }
    });
  });

  describe('GET /api/sms/messages', () => {
    it('filters by phone, status and time, newest first', async () => {
      await t.http.post('/api/sms/send').set(auth(admin)).send({ to: '+33611111111', message: 'one' }).expect(201);
      await t.http.post('/api/sms/send').set(auth(admin)).send({ to: '+33611111111', message: 'two' }).expect(201);
      await t.http.post('/api/sms/send').set(auth(admin)).send({ to: TWILIO_MAGIC_NUMBERS.notMobile, message: 'three' }).expect(422);
      const byPhone = await t.http.get('/api/sms/messages?phone=06 11 11 11 11').set(auth(admin)).expect(200);
      expect(byPhone.body.items.map((m: { body: string }) => m.body)).toEqual(['two', 'one']);
      const failed = await t.http.get('/api/sms/messages?status=failed').set(auth(admin)).expect(200);
      expect(failed.body.items.every((m: { status: string }) => m.status === 'failed')).toBe(true);
      const future = await t.http.get('/api/sms/messages?since=2999-01-01T00:00:00Z').set(auth(admin)).expect(200);
      expect(future.body.total).toBe(0);
      await t.http.get('/api/sms/messages?phone=12').set(auth(admin)).expect(400);
      await t.http.get('/api/sms/messages/00000000-0000-4000-8000-000000000000').set(auth(admin)).expect(404);
    });

    it("tells a message still waiting here from one Twilio queued: state=queued against Twilio's status=queued", async () => {
      const to = '+33611111112';
      const now = await t.http.post('/api/sms/send').set(auth(admin)).send({ to, message: 'now' }).expect(201);
      const sendAt = new Date(Date.now() + 3_600_000).toISOString();
      const later = await t.http.post('/api/sms/send').set(auth(admin)).send({ to, message: 'later', sendAt }).expect(202);
      expect(now.body).toMatchObject({ status: 'queued', sid: expect.any(String) });
      expect(later.body).toMatchObject({ status: 'queued', sid: null });
      const list = async (filter: string) =>
        (
          await t.http
            .get(`/api/sms/messages?phone=${encodeURIComponent(to)}&${filter}`)
            .set(auth(admin))
            .expect(200)
        ).body.items.map((m: { body: string }) => m.body);
      expect(await list('status=queued')).toEqual(['later', 'now']);
      expect(await list('state=queued')).toEqual(['later']);
      expect(await list('state=sent')).toEqual(['now']);
      expect(await list('state=sent&status=delivered')).toEqual([]);
      await t.http.get('/api/sms/messages?state=delivered').set(auth(admin)).expect(400);
    });
  });

  describe('who may send', () => {
    const routes: [string, object][] = [
      ['/api/sms/send', BRIEF_SEND],
      ['/api/sms/notification', BRIEF_NOTIFICATION],
      ['/api/sms/bulk', BRIEF_BULK],
    ];
    it.each(routes)('%s: 401 without a token, 403 for a user, and nothing sent', async (path, body) => {
      await t.http.post(path).send(body).expect(401);
      const res = await t.http.post(path).set(auth(user)).send(body).expect(403);
      expect(res.body.message).toMatch(/admin, superadmin/);
      expect(standIn.requests).toHaveLength(0);
    });

    it('lets a user format numbers but not read messages, templates or the journal', async () => {
      await t.http.post('/api/sms/format-phone').send({ phone: '0612345678' }).expect(401);
      await t.http.get('/api/sms/messages').set(auth(user)).expect(403);
      await t.http.get('/api/sms/templates').set(auth(user)).expect(403);
    });
  });
});

describeEachDatabase('SMS providers', (kind) => {
  it('dry-run: sends nothing, says so, and still stores and journals', async () => {
    const t = await TestApp.start(kind);
    try {
      const admin = await t.rootToken();
      const res = await t.http.post('/api/sms/send').set('Authorization', `Bearer ${admin}`).send(BRIEF_SEND).expect(201);
      expect(res.body).toMatchObject({ provider: 'dry-run', sid: expect.stringMatching(/^SMDRYRUN/), status: 'dry-run' });
      const stored = await t.http.get(`/api/sms/messages/${res.body.id}`).set('Authorization', `Bearer ${admin}`).expect(200);
      expect(stored.body).toMatchObject({ provider: 'dry-run', status: 'dry-run' });
      const bulk = await t.http.post('/api/sms/bulk').set('Authorization', `Bearer ${admin}`).send(BRIEF_BULK).expect(202);
      expect(bulk.body).toMatchObject({ provider: 'dry-run', queued: 2 });
      await vi.waitFor(
        async () => {
          const batch = await t.http.get(`/api/sms/bulk/${bulk.body.batchId}`).set('Authorization', `Bearer ${admin}`).expect(200);
          expect(batch.body).toMatchObject({ status: 'completed', counts: { sent: 2 }, providerStatuses: { 'dry-run': 2 } });
        },
        { timeout: 10_000, interval: 50 },
      );
    } finally {
      await t.close();
    }
  });

  it('dry-run: the boot says why (no credentials, or SMS_PROVIDER=dry-run beside them) and what to change', async () => {
    const warn = vi.spyOn(Logger.prototype, 'warn');
    const said = () => warn.mock.calls.map((c) => String(c[0])).filter((m) => m.startsWith('SMS provider: dry-run'));
    try {
      const bare = await TestApp.start(kind);
      await bare.close();
      expect(said()).toEqual([expect.stringMatching(/set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_PHONE_NUMBER to send/)]);
      warn.mockClear();
      const credentials = testTwilioCredentials();
      const chosen = await TestApp.start(kind, {
        SMS_PROVIDER: 'dry-run',
        TWILIO_ACCOUNT_SID: credentials.accountSid,
        TWILIO_AUTH_TOKEN: credentials.authToken,
        TWILIO_PHONE_NUMBER: '+33700000000',
      });
      await chosen.close();
      expect(said()).toEqual([expect.stringMatching(/\(SMS_PROVIDER=dry-run\).*remove SMS_PROVIDER or set it to twilio/)]);
    } finally {
      warn.mockRestore();
    }
  });

  it('sends through the Messaging Service when TWILIO_MESSAGING_SERVICE_SID is set', async () => {
    const messagingServiceSid = 'MG' + 'e'.repeat(32);
    const { standIn, t, close } = await startDispatchApp(kind, { env: { TWILIO_MESSAGING_SERVICE_SID: messagingServiceSid } });
    try {
      const res = await t.http
        .post('/api/sms/send')
        .set('Authorization', `Bearer ${await t.rootToken()}`)
        .send(BRIEF_SEND)
        .expect(201);
      expect(standIn.requests[0].form).toMatchObject({ MessagingServiceSid: messagingServiceSid });
      expect(standIn.requests[0].form.From).toBeUndefined();
      expect(res.body.status).toBe('accepted');
    } finally {
      await close();
    }
  });
});
