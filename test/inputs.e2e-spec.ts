import { Body, Controller, Module, Post } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { type AddressInfo, connect } from 'node:net';
import request from 'supertest';
import { Public } from '../src/common/decorators/public.decorator.js';
import { SmsModule } from '../src/sms/sms.module.js';
import { SmsService } from '../src/sms/sms.service.js';
import { createTestDatabase, describeEachDatabase, type TestDatabase } from './support/databases.js';
import { startAppWithModule } from './support/app-with-module.js';
import { ROOT_EMAIL, TestApp } from './support/test-app.js';
import { testTwilioCredentials, TWILIO_MAGIC_NUMBERS, TwilioStandIn } from './support/twilio-stand-in.js';

const nested = (levels: number) => `{"email":${'['.repeat(levels)}${']'.repeat(levels)},"password":"x"}`;
const manyKeys = (count: number) => `{${Array.from({ length: count }, (_, i) => `"${i.toString(36)}":1`).join(',')}}`;
const inDays = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString();

/** Every refusal of bad input: a 400 naming the field, never a 500. */
describeEachDatabase('Bad input is refused with 400, whatever it is', (kind) => {
  let t: TestApp;
  let root: string;
  const auth = () => ({ Authorization: `Bearer ${root}` });

  beforeAll(async () => {
    t = await TestApp.start(kind, { SMS_PROVIDER: 'dry-run', BODY_LIMIT_BYTES: '65536' });
    root = await t.rootToken();
  });
  afterAll(() => t?.close());

  describe('GET /api/sms/templates?locale', () => {
    it.each(['de', 'zz-ZZ', 'de\nDE'])('answers 400 naming locale for the unsupported %j', async (locale) => {
      const res = await t.http.get('/api/sms/templates').query({ locale }).set(auth()).expect(400);
      expect(res.body).toMatchObject({
        statusCode: 400,
        details: [{ field: 'locale', problems: [expect.stringMatching(/fr.*en/)] }],
      });
      expect(res.body.message).not.toContain('\n');
    });

    it('answers 400 naming locale when it is repeated', async () => {
      const res = await t.http.get('/api/sms/templates?locale=en&locale=fr').set(auth()).expect(400);
      expect(res.body.details[0].field).toBe('locale');
    });

    it('reads Accept-Language with its weights when no locale is given', async () => {
      const res = await t.http.get('/api/sms/templates').set(auth()).set('Accept-Language', 'de, en;q=0.8').expect(200);
      expect(res.body[0].example.text).toMatch(/Hello|Dear|Your|Hi/);
    });
  });

  describe('JSON bodies are bounded before anything reads them', () => {
    it('answers 400 naming the depth on an authenticated route (below its size limit)', async () => {
      const res = await t.http
        .post('/api/sms/send')
        .set(auth())
        .set('Content-Type', 'application/json')
        .send(`{"to":"0612345678","message":${'['.repeat(5000)}${']'.repeat(5000)}}`)
        .expect(400);
      expect(res.body.message).toMatch(/^message(\.0)+ is nested more than 32 levels deep$/);
    });

    it('answers 400 to an object with too many keys, before validation', async () => {
      const res = await t.http.post('/api/sms/send').set(auth()).set('Content-Type', 'application/json').send(manyKeys(5000)).expect(400);
      expect(res.body.message).toBe('body has more than 200 keys');
    });

    it('answers 400 naming the query string when it has too many parameters', async () => {
      const query = Array.from({ length: 60 }, (_, i) => `p${i}=1`).join('&');
      const res = await t.http.get(`/api/sms/messages?${query}`).set(auth()).expect(400);
      expect(res.body.message).toBe('query string has more than 50 parameters');
      expect(res.body.details).toEqual([{ field: 'query string', problems: ['query string has more than 50 parameters'] }]);
    });

    it.each([
      ['/api/sms/stats?since=2026-01-01&since=2026-02-01', 'since'],
      ['/api/sms/messages?page=1&page=2', 'page'],
      ['/api/audit?action=login_failure&action=send_sms', 'action'],
    ])('answers 400 to a parameter given twice, naming it (%s)', async (path, name) => {
      const res = await t.http.get(path).set(auth()).expect(400);
      expect(res.body.message).toBe(`${name} must be given once`);
      expect(res.body.details).toEqual([{ field: name, problems: [`${name} must be given once`] }]);
    });

    it('does not echo a repeated key that is not printable: the key itself is refused first', async () => {
      const res = await t.http.get('/api/sms/messages?%00=1&%00=2').set(auth()).expect(400);
      expect(res.body.message).not.toContain('\u0000');
      expect(res.body.message).toMatch(/^query string has a key that /);
    });

    it('answers 400 to a prototype key', async () => {
      const res = await t.http
        .post('/api/sms/format-phone')
        .set(auth())
        .set('Content-Type', 'application/json')
        .send('{"phone":"0612345678","constructor":{"prototype":{"x":1}}}')
        .expect(400);
      expect(res.body.details[0].field).toBe('constructor');
    });

    it('keeps the login limit small (4 KB) and the default for other routes', async () => {
      const padding = 'p'.repeat(5000);
      await t.http.post('/api/auth/login').send({ email: 'a@b.io', password: padding }).expect(413);
      const send = await t.http
        .post('/api/sms/send')
        .set(auth())
        .send({ to: '0612345678', message: `x${padding}` });
      expect(send.status).toBe(400); // too long for an SMS, but read
      await t.http
        .post('/api/sms/send')
        .set(auth())
        .send({ to: '0612345678', message: 'x'.repeat(70_000) })
        .expect(413);
    });

    it('lets a bulk body past the default limit', async () => {
      const recipients = Array.from({ length: 800 }, (_, i) => ({
        phone: `06${String(10_000_000 + i)}`,
        name: `Client numéro ${i}, un nom assez long pour la taille`,
      }));
      const body = JSON.stringify({ recipients, message: 'Bonjour {{name}}' });
      expect(body.length).toBeGreaterThan(65_536);
      const res = await t.http.post('/api/sms/bulk').set(auth()).set('Content-Type', 'application/json').send(body);
      expect(res.status).not.toBe(413);
      expect(res.status).toBeLessThan(500);
    });
  });

  describe('content types', () => {
    it('answers 415 to a JSON text sent as text/plain, saying what to send', async () => {
      const res = await t.http
        .post('/api/sms/send')
        .set(auth())
        .set('Content-Type', 'text/plain')
        .send(JSON.stringify({ to: '0612345678', message: 'Bonjour' }))
        .expect(415);
      expect(res.body).toMatchObject({ statusCode: 415, message: 'Unsupported Content-Type: send application/json' });
    });

    it('refuses a JSON body that is not UTF-8 with 400, and a declared charset other than UTF-8 with 415; nothing sent', async () => {
      const latin1 = Buffer.concat([Buffer.from('{"to":"0612345678","message":"caf'), Buffer.from([0xe9]), Buffer.from('"}')]);
      // The bytes as they are (superagent would write a Buffer as the JSON of one).
      const raw = (body: Buffer) => body as unknown as string;
      const notUtf8 = await t.http
        .post('/api/sms/send')
        .set(auth())
        .set('Content-Type', 'application/json')
        .serialize(raw)
        .send(latin1)
        .expect(400);
      expect(notUtf8.body.message).toBe('Body is not valid UTF-8 (JSON is sent in UTF-8)');
      const declared = await t.http
        .post('/api/sms/send')
        .set(auth())
        .set('Content-Type', 'application/json; charset=iso-8859-1')
        .serialize(raw)
        .send(latin1)
        .expect(415);
      expect(declared.body.message).toMatch(/charset=iso-8859-1 is not accepted/);
      const listed = await t.http.get('/api/sms/messages?limit=100').set(auth()).expect(200);
      expect(listed.body.items.filter((m: { body?: string }) => m.body?.startsWith('caf'))).toEqual([]);
      await t.http
        .post('/api/sms/send')
        .set(auth())
        .set('Content-Type', 'application/json; charset="UTF-8"')
        .serialize(raw)
        .send(Buffer.from('{"to":"0612345678","message":"café"}'))
        .expect((res) => expect(res.status).toBeLessThan(500));
    });

    it('takes an empty body sent as application/json as no fields: a confirm works, a send names what is missing', async () => {
      const created = await t.http
        .post('/api/appointments')
        .set(auth())
        .send({ clientName: 'Jean', clientPhone: '0612345678', startsAt: inDays(3) })
        .expect(201);
      await t.http
        .post(`/api/appointments/${created.body.id}/confirm`)
        .set(auth())
        .set('Content-Type', 'application/json')
        .send('')
        .expect(200);
      const send = await t.http.post('/api/sms/send').set(auth()).set('Content-Type', 'application/json').send('').expect(400);
      expect(send.body.details.map((d: { field: string }) => d.field)).toEqual(['to', 'message']);
    });
  });

  describe('ranges whose end is before their start', () => {
    it.each([
      ['/api/audit?from=2030-02-10&to=2030-02-01T00:00:00Z', 'to', 'from'],
      ['/api/appointments?from=2030-02-10T00:00:00Z&to=2030-02-01', 'to', 'from'],
      ['/api/sms/messages?since=2030-02-10T00:00:00Z&until=2030-02-09T23:59:59Z', 'until', 'since'],
    ])('%s → 400 naming %s', async (path, end, start) => {
      const res = await t.http.get(path).set(auth()).expect(400);
      expect(res.body.details).toEqual([{ field: end, problems: [`${end} must not be before ${start}`] }]);
    });

    it('accepts a range of one instant, and a range of one day given as dates', async () => {
      await t.http.get('/api/audit?from=2030-02-10T00:00:00Z&to=2030-02-10T00:00:00Z').set(auth()).expect(200);
      await t.http.get('/api/appointments?from=2030-02-10&to=2030-02-10').set(auth()).expect(200);
    });
  });

  describe('GET /api/sms/messages filters', () => {
    it.each(['status', 'type'])('answers 400 naming %s for a value no message can have', async (field) => {
      const res = await t.http
        .get('/api/sms/messages')
        .query({ [field]: 'bogus' })
        .set(auth())
        .expect(400);
      expect(res.body.details).toEqual([{ field, problems: [expect.stringMatching(new RegExp(`^${field} must be one of: `))] }]);
    });

    it.each([
      ['status', 'dry-run'],
      ['status', 'skipped'],
      ['status', 'undelivered'],
      ['type', 'bulk'],
      ['type', 'appointment_rescheduled'],
    ])('accepts %s=%s', async (field, value) => {
      await t.http
        .get('/api/sms/messages')
        .query({ [field]: value })
        .set(auth())
        .expect(200);
    });
  });

  describe('ids in the path', () => {
    it.each([
      ['GET', '/api/sms/messages/not-a-uuid', 'id'],
      ['POST', '/api/sms/messages/123/cancel', 'id'],
      ['GET', '/api/sms/bulk/xyz', 'batchId'],
      ['GET', '/api/sms/bulk/xyz/messages', 'batchId'],
      ['POST', '/api/sms/bulk/xyz/cancel', 'batchId'],
      ['GET', '/api/appointments/1', 'id'],
      ['PATCH', '/api/users/1', 'id'],
    ])('%s %s → 400 naming %s', async (method, path, field) => {
      const res = await t.http[method.toLowerCase() as 'get' | 'post' | 'patch'](path).set(auth()).send({}).expect(400);
      expect(res.body).toEqual({
        statusCode: 400,
        error: 'Bad Request',
        message: expect.stringMatching(new RegExp(`^${field} must be a UUID`)),
        details: [{ field, problems: [res.body.message] }],
      });
    });

    it('finds a message by its id written in upper case', async () => {
      // Sent later: the dispatcher of this app may still be busy with the bulks above.
      const sent = await t.http
        .post('/api/sms/send')
        .set(auth())
        .send({ to: '0612345678', message: 'Casse', sendAt: inDays(1) })
        .expect(202);
      const res = await t.http
        .get(`/api/sms/messages/${String(sent.body.id).toUpperCase()}`)
        .set(auth())
        .expect(200);
      expect(res.body.id).toBe(sent.body.id);
    });
  });

  describe('a bulk may hold as many values as SMS_BULK_MAX_RECIPIENTS needs', () => {
    let big: TestApp;
    let token: string;
    beforeAll(async () => {
      big = await TestApp.start(kind, { SMS_PROVIDER: 'dry-run', SMS_BULK_MAX_RECIPIENTS: '40000' });
      token = await big.rootToken();
    });
    afterAll(() => big?.close());

    it('accepts 34,000 named recipients (over 100,000 JSON values) on the bulk route only', async () => {
      const recipients = Array.from({ length: 34_000 }, (_, i) => ({ phone: `+3361${String(i).padStart(7, '0')}`, name: `N${i}` }));
      const res = await big.http
        .post('/api/sms/bulk')
        .set({ Authorization: `Bearer ${token}` })
        .send({ recipients, message: 'Bonjour {{name}}', sendAt: inDays(30) })
        .expect(202);
      expect(res.body).toMatchObject({ total: 34_000, queued: 34_000, invalid: [] });
      // Any other route keeps the default of 100,000 values.
      const other = await big.http
        .post('/api/sms/send')
        .set({ Authorization: `Bearer ${token}` })
        .set('Content-Type', 'application/json')
        .send(`{"to":"0612345678","message":[${'0,'.repeat(100_000)}0]}`)
        .expect(400);
      expect(other.body.message).toBe('body holds more than 100000 values');
    });

    it('still refuses a bulk past its own values limit with a 400 naming it', async () => {
      const res = await big.http
        .post('/api/sms/bulk')
        .set({ Authorization: `Bearer ${token}` })
        .set('Content-Type', 'application/json')
        .send(`{"recipients":[${'0,'.repeat(125_000)}0],"message":"x"}`)
        .expect(400);
      expect(res.body.message).toBe('body holds more than 121000 values');
    });
  });

  describe('strings the database or the validators cannot take', () => {
    it('answers 400 naming email for a lone surrogate in the login email', async () => {
      const res = await t.http
        .post('/api/auth/login')
        .set('Content-Type', 'application/json')
        .send('{"email":"\\ud800@x.io","password":"x"}')
        .expect(400);
      expect(res.body).toMatchObject({ details: [{ field: 'email', problems: [expect.stringMatching(/unpaired surrogate/)] }] });
    });

    it('answers 400 naming email for a NUL in the login email', async () => {
      const res = await t.http.post('/api/auth/login').send({ email: 'a\u0000@x.io', password: 'whatever-password' }).expect(400);
      expect(res.body.details[0]).toEqual({ field: 'email', problems: [expect.stringMatching(/NUL/)] });
    });

    it('answers 400 naming the field for a NUL in a stored name, nested or not', async () => {
      const user = await t.http
        .post('/api/users')
        .set(auth())
        .send({ email: 'nul@example.test', password: 'a-long-enough-password', role: 'user', name: 'Jean\u0000' })
        .expect(400);
      expect(user.body.details[0].field).toBe('name');
      const bulk = await t.http
        .post('/api/sms/bulk')
        .set(auth())
        .send({
          recipients: [
            { phone: '0612345678', name: 'ok' },
            { phone: '0612345679', name: 'x\u0000' },
          ],
          message: 'Bonjour',
        })
        .expect(400);
      expect(bulk.body.details[0].field).toBe('recipients.1.name');
    });

    it('refuses a form body on a JSON route with 415, as a JSON route answers text/plain; nothing stored or sent', async () => {
      const total = async (path: string) => (await t.http.get(path).set(auth()).expect(200)).body.total as number;
      const [users, messages] = [await total('/api/users'), await total('/api/sms/messages')];
      const user = await t.http
        .post('/api/users')
        .set(auth())
        .set('Content-Type', 'application/x-www-form-urlencoded')
        .send('email=form%40example.test&password=a-long-enough-password&role=user&name=Jean')
        .expect(415);
      expect(user.body).toMatchObject({ statusCode: 415, message: 'Unsupported Content-Type: send application/json' });
      await t.http
        .post('/api/sms/send')
        .set(auth())
        .set('Content-Type', 'application/x-www-form-urlencoded')
        .send('to=0612345678&message=Bonjour')
        .expect(415);
      expect([await total('/api/users'), await total('/api/sms/messages')]).toEqual([users, messages]);
      // A path no route matches is still a 404.
      await t.http.post('/api/no-such-route').set('Content-Type', 'application/x-www-form-urlencoded').send('a=1').expect(404);
    });

    it("refuses JSON on Twilio's webhooks with 415 (Twilio sends its form only), before the signature is read", async () => {
      for (const path of ['/api/sms/webhooks/status', '/api/sms/webhooks/inbound']) {
        const res = await t.http.post(path).send({ MessageSid: 'SM0123', MessageStatus: 'delivered' }).expect(415);
        expect(res.body).toMatchObject({
          statusCode: 415,
          message: "Unsupported Content-Type: send application/x-www-form-urlencoded (Twilio's form)",
        });
      }
      // A form without a signature is still the signature's 403.
      await t.http.post('/api/sms/webhooks/status').type('form').send('MessageSid=SM0123&MessageStatus=delivered').expect(403);
    });

    it('answers 400 naming the filter for a NUL in a query string', async () => {
      const res = await t.http.get('/api/audit?actor=%00admin').set(auth()).expect(400);
      expect(res.body.details[0].field).toBe('actor');
      const phone = await t.http.get('/api/appointments?phone=06%0012').set(auth()).expect(400);
      expect(phone.body.details[0].field).toBe('phone');
    });
  });

  describe('one date rule', () => {
    const appointment = (startsAt: string) => ({ clientName: 'Jean Dupont', clientPhone: '0612345678', startsAt });

    it('refuses an impossible date instead of rolling it over', async () => {
      const res = await t.http.post('/api/appointments').set(auth()).send(appointment('2030-02-31T10:00:00Z')).expect(400);
      expect(res.body.details).toEqual([{ field: 'startsAt', problems: [expect.stringMatching(/not a real date/)] }]);
    });

    it('refuses a date-time without an offset, saying to add one', async () => {
      const res = await t.http.post('/api/appointments').set(auth()).send(appointment('2030-01-15T14:30')).expect(400);
      expect(res.body.message).toMatch(/startsAt must say its offset from UTC: add Z or an offset such as \+01:00/);
    });

    it('stores a date-time with its offset exactly', async () => {
      const res = await t.http.post('/api/appointments').set(auth()).send(appointment('2030-01-15T14:30:00+01:00')).expect(201);
      expect(new Date(res.body.startsAt).toISOString()).toBe('2030-01-15T13:30:00.000Z');
    });

    it('refuses an appointment time given as a date alone (it would be midnight), on creation and on a move', async () => {
      const res = await t.http.post('/api/appointments').set(auth()).send(appointment('2030-01-15')).expect(400);
      expect(res.body.details).toEqual([{ field: 'startsAt', problems: [expect.stringMatching(/needs a time and its offset/)] }]);
      const created = await t.http.post('/api/appointments').set(auth()).send(appointment('2030-01-15T14:30:00+01:00')).expect(201);
      const moved = await t.http.patch(`/api/appointments/${created.body.id}`).set(auth()).send({ startsAt: '2030-01-16' }).expect(400);
      expect(moved.body.details[0].field).toBe('startsAt');
    });

    it('includes the start of a range and excludes its end, in the appointments, messages and journal alike', async () => {
      // 2031-04-12 00:00 in Paris (CEST): in the 12th's range, not in the 11th's.
      await t.http.post('/api/appointments').set(auth()).send(appointment('2031-04-11T22:00:00Z')).expect(201);
      const day = async (from: string, to: string) =>
        (await t.http.get(`/api/appointments?from=${from}&to=${to}&phone=0612345678`).set(auth()).expect(200)).body.items.filter(
          (a: { startsAt: string }) => a.startsAt === '2031-04-11T22:00:00.000Z',
        ).length;
      expect(await day('2031-04-11', '2031-04-12')).toBe(0);
      expect(await day('2031-04-12', '2031-04-13')).toBe(1);
      // Messages and journal entries: the first row's own instant as a range's end leaves it out, as its start keeps it.
      await t.http.post('/api/sms/send').set(auth()).send({ to: '0612345678', message: 'Bornes' }).expect(201);
      const [message] = (await t.http.get('/api/sms/messages?limit=1').set(auth()).expect(200)).body.items;
      const at = encodeURIComponent(message.createdAt);
      expect(
        (await t.http.get(`/api/sms/messages?until=${at}&phone=0612345678`).set(auth())).body.items.map((m: { id: string }) => m.id),
      ).not.toContain(message.id);
      expect((await t.http.get(`/api/sms/messages?since=${at}`).set(auth())).body.items.map((m: { id: string }) => m.id)).toContain(
        message.id,
      );
      const [entry] = (await t.http.get('/api/audit?action=send_sms&limit=1').set(auth()).expect(200)).body.items;
      const entryAt = encodeURIComponent(entry.createdAt);
      expect(
        (await t.http.get(`/api/audit?action=send_sms&to=${entryAt}`).set(auth())).body.items.map((e: { id: string }) => e.id),
      ).not.toContain(entry.id);
      expect(
        (await t.http.get(`/api/audit?action=send_sms&from=${entryAt}`).set(auth())).body.items.map((e: { id: string }) => e.id),
      ).toContain(entry.id);
    });

    it('reads a date alone in a filter as the start of that day in DEFAULT_TIMEZONE', async () => {
      await t.http.post('/api/appointments').set(auth()).send(appointment('2031-03-09T23:30:00Z')).expect(201); // 10 March 00:30 in Paris
      const from = await t.http.get('/api/appointments?from=2031-03-10&to=2031-03-11').set(auth()).expect(200);
      expect(from.body.items.map((a: { startsAt: string }) => new Date(a.startsAt).toISOString())).toEqual(['2031-03-09T23:30:00.000Z']);
      await t.http.get('/api/audit?from=2030-02-30').set(auth()).expect(400);
      await t.http.get('/api/sms/messages?since=2030-01-15T10:00').set(auth()).expect(400);
    });

    it.each(['/api/sms/messages?since=', '/api/audit?from=', '/api/appointments?from=', '/api/sms/stats?since='])(
      'says a + sent unencoded in a query string arrived as a space (%s…T10:00:00+01:00): write it encoded',
      async (prefix) => {
        const day = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
        const res = await t.http.get(`${prefix}${day}T10:00:00+01:00`).set(auth()).expect(400);
        expect(res.body.message).toMatch(/offset reached the service as a space: a \+ in a query string must be written %2B/);
        await t.http.get(`${prefix}${day}T10:00:00%2B01:00`).set(auth()).expect(200);
      },
    );
  });

  describe('messages and numbers that cannot make an SMS', () => {
    it.each([' ', '   \n\t  ', '\u200b', '\u200e\u00ad\u00a0', '\ufeff \u2060'])(
      'refuses the blank or invisible message %j with 400 before any send',
      async (message) => {
        const before = (await t.http.get('/api/sms/messages?limit=1').set(auth())).body.total;
        const res = await t.http.post('/api/sms/send').set(auth()).send({ to: '0612345678', message }).expect(400);
        expect(res.body.details[0].field).toBe('message');
        expect((await t.http.get('/api/sms/messages?limit=1').set(auth())).body.total).toBe(before);
      },
    );

    it('refuses a whitespace-only bulk message', async () => {
      const res = await t.http
        .post('/api/sms/bulk')
        .set(auth())
        .send({ recipients: [{ phone: '0612345678' }], message: '  ' })
        .expect(400);
      expect(res.body.details[0].field).toBe('message');
    });

    it('refuses a placeholder that would go out as written: any but {{name}} in a bulk, any in a single send', async () => {
      const bulk = await t.http
        .post('/api/sms/bulk')
        .set(auth())
        .send({ recipients: [{ phone: '0612345604', name: 'Zoë' }], message: 'Salut {{ name }} et {{NAME}}' })
        .expect(400);
      expect(bulk.body.details).toEqual([
        { field: 'message', problems: [expect.stringMatching(/contains \{\{NAME\}\}.*only \{\{name\}\}/)] },
      ]);
      const single = await t.http.post('/api/sms/send').set(auth()).send({ to: '0612345605', message: 'Bonjour {{name}}' }).expect(400);
      expect(single.body.details).toEqual([
        { field: 'message', problems: [expect.stringMatching(/contains \{\{name\}\}.*POST \/api\/sms\/bulk/)] },
      ]);
      // Half a placeholder (never closed) would go out as written too.
      const halfOpen = await t.http
        .post('/api/sms/bulk')
        .set(auth())
        .send({ recipients: [{ phone: '0612345604', name: 'Zoë' }], message: 'Bonjour {{name}, votre dossier est à jour' })
        .expect(400);
      expect(halfOpen.body.details).toEqual([{ field: 'message', problems: [expect.stringMatching(/contains \{\{name\}, votre/)] }]);
      await t.http.post('/api/sms/send').set(auth()).send({ to: '0612345605', message: 'Bonjour {prenom}}' }).expect(400);
      const stored = await t.http.get('/api/sms/messages?phone=%2B33612345604').set(auth()).expect(200);
      expect(stored.body.total).toBe(0);
    });

    it('refuses a value holding a placeholder left unfilled upstream: a bulk name (that recipient alone), a notification value, an appointment name or place', async () => {
      const bulk = await t.http
        .post('/api/sms/bulk')
        .set(auth())
        .send({
          recipients: [
            { phone: '0612345631', name: '{{first_name}}' },
            { phone: '0612345632', name: 'Jean' },
          ],
          message: 'Bonjour {{name}}',
        })
        .expect(202);
      expect(bulk.body).toMatchObject({ total: 2, queued: 1 });
      expect(bulk.body.invalid).toEqual([
        {
          index: 0,
          phone: '0612345631',
          name: '{{first_name}}',
          code: 'NAME_PLACEHOLDER',
          message: 'name must not contain {{ or }} (a placeholder left unfilled would reach the client as written)',
        },
      ]);
      // A text without {{name}} does not use the name: sent.
      const unused = await t.http
        .post('/api/sms/bulk')
        .set(auth())
        .send({ recipients: [{ phone: '0612345633', name: '{{first_name}}' }], message: 'Votre dossier est à jour' })
        .expect(202);
      expect(unused.body).toMatchObject({ queued: 1, invalid: [] });
      const notification = await t.http
        .post('/api/sms/notification')
        .set(auth())
        .send({ to: '0612345634', type: 'dossier_updated', data: { name: 'Jean {{nom}}' } })
        .expect(400);
      expect(notification.body.details).toEqual([
        {
          field: 'data.name',
          problems: ['name must not contain {{ or }} (a placeholder left unfilled would reach the client as written)'],
        },
      ]);
      const appointment = await t.http
        .post('/api/appointments')
        .set(auth())
        .send({ clientName: 'Jean', clientPhone: '0612345635', startsAt: '2030-01-15T13:30:00Z', location: '{{cabinet}}' })
        .expect(400);
      expect(appointment.body.details[0].field).toBe('location');
      // A cancellation's reason is written into its SMS too (a soft hyphen between the braces is dropped when written in).
      const booked = await t.http
        .post('/api/appointments')
        .set(auth())
        .send({ clientName: 'Jean', clientPhone: '0612345636', startsAt: '2030-01-15T13:30:00Z' })
        .expect(201);
      const cancel = await t.http
        .post(`/api/appointments/${booked.body.id}/cancel`)
        .set(auth())
        .send({ reason: '{\u00ad{motif}}' })
        .expect(400);
      expect(cancel.body.details[0].field).toBe('reason');
      expect((await t.http.get(`/api/appointments/${booked.body.id}`).set(auth()).expect(200)).body.status).toBe('pending');
      const stored = await t.http.get('/api/sms/messages?phone=%2B33612345634').set(auth()).expect(200);
      expect(stored.body.total).toBe(0);
    });

    it('reports a bulk recipient whose personalised message would be empty, and sends the others', async () => {
      const res = await t.http
        .post('/api/sms/bulk')
        .set(auth())
        .send({
          recipients: [
            { phone: '0612345601' },
            { phone: '0612345602', name: 'Jean' },
            { phone: '0612345603', name: ' ' },
            // Control characters only: nothing once written inline (it was sent to Twilio as an empty body).
            { phone: '0612345697', name: '\u0007\u001b' },
          ],
          message: '{{name}}',
        })
        .expect(202);
      expect(res.body).toMatchObject({ total: 4, queued: 1 });
      expect(res.body.invalid).toEqual([
        expect.objectContaining({ index: 0, code: 'EMPTY_BODY', message: expect.stringMatching(/no text once personalised/) }),
        expect.objectContaining({ index: 2, code: 'EMPTY_BODY' }),
        expect.objectContaining({ index: 3, code: 'EMPTY_BODY' }),
      ]);
      const listed = await t.http.get(`/api/sms/bulk/${res.body.batchId}/messages`).set(auth()).expect(200);
      expect(listed.body.items.map((m: { body: string }) => m.body)).toEqual(['Jean']);
    });

    it('sends a later spelling of a number whose first entry was refused for its own name (EMPTY_BODY), not a duplicate of it', async () => {
      const res = await t.http
        .post('/api/sms/bulk')
        .set(auth())
        .send({
          recipients: [{ phone: '0612345621' }, { phone: '+33612345621', name: 'Jean' }, { phone: '06 12 34 56 21', name: 'Paul' }],
          message: '{{name}}',
        })
        .expect(202);
      expect(res.body).toMatchObject({ total: 3, queued: 1 });
      expect(res.body.invalid).toEqual([expect.objectContaining({ index: 0, code: 'EMPTY_BODY' })]);
      // Once one is accepted, a third spelling is its duplicate.
      expect(res.body.duplicates).toEqual([expect.objectContaining({ index: 2, to: '+33612345621' })]);
      const listed = await t.http.get(`/api/sms/bulk/${res.body.batchId}/messages`).set(auth()).expect(200);
      expect(listed.body.items.map((m: { body: string }) => m.body)).toEqual(['Jean']);
    });

    it('a marketing bulk of {{name}} alone: a recipient without a name is EMPTY_BODY too, not sent the opt-out mention alone', async () => {
      const res = await t.http
        .post('/api/sms/bulk')
        .set(auth())
        .send({
          recipients: [{ phone: '0612345611' }, { phone: '0612345612', name: 'Jean' }],
          message: '{{name}}',
          category: 'marketing',
          sendAt: new Date(Date.now() + 3 * 86_400_000).toISOString(),
        })
        .expect(202);
      expect(res.body).toMatchObject({ total: 2, queued: 1, stopMentionAppended: true });
      expect(res.body.invalid).toEqual([expect.objectContaining({ index: 0, code: 'EMPTY_BODY' })]);
      const listed = await t.http.get(`/api/sms/bulk/${res.body.batchId}/messages`).set(auth()).expect(200);
      expect(listed.body.items).toHaveLength(1);
      expect(listed.body.items[0].body).toMatch(/^Jean\b.*STOP/s);
    });

    it('a marketing bulk whose text is {{name}} and the opt-out mention written in: a recipient without a name is EMPTY_BODY', async () => {
      const res = await t.http
        .post('/api/sms/bulk')
        .set(auth())
        .send({
          recipients: [
            { phone: '0612345613' },
            { phone: '0612345614', name: 'Jean' },
            // Names that say nothing either: punctuation, or the mention itself.
            { phone: '0612345616', name: '!!!' },
            { phone: '0612345617', name: 'Désabonnement : répondez STOP' },
          ],
          message: '{{name}}\ndésabonnement : RÉPONDEZ stop',
          category: 'marketing',
          sendAt: new Date(Date.now() + 3 * 86_400_000).toISOString(),
        })
        .expect(202);
      expect(res.body).toMatchObject({ total: 4, queued: 1, stopMentionAppended: false });
      expect(res.body.invalid).toEqual([0, 2, 3].map((index) => expect.objectContaining({ index, code: 'EMPTY_BODY' })));
      const listed = await t.http.get(`/api/sms/bulk/${res.body.batchId}/messages`).set(auth()).expect(200);
      expect(listed.body.items.map((m: { body: string }) => m.body)).toEqual(['Jean\ndésabonnement : RÉPONDEZ stop']);
    });

    it('refuses a marketing bulk whose text is the opt-out mention alone (400 naming message), and stores nothing', async () => {
      const before = await t.http.get('/api/sms/messages').set(auth()).expect(200);
      for (const message of ['Désabonnement : répondez STOP', ' desabonnement: repondez stop.']) {
        const res = await t.http
          .post('/api/sms/bulk')
          .set(auth())
          .send({ recipients: [{ phone: '0612345615', name: 'Jean' }], message, category: 'marketing' })
          .expect(400);
        expect(res.body.details).toEqual([{ field: 'message', problems: ['message must contain text besides the opt-out mention'] }]);
      }
      const after = await t.http.get('/api/sms/messages').set(auth()).expect(200);
      expect(after.body.total).toBe(before.body.total);
    });

    it('refuses a French landline with 400 naming to, and reports it per recipient in a bulk', async () => {
      const res = await t.http.post('/api/sms/send').set(auth()).send({ to: '0144556677', message: 'Bonjour' }).expect(400);
      expect(res.body.details).toEqual([{ field: 'to', problems: [expect.stringMatching(/landline/)] }]);
      const bulk = await t.http
        .post('/api/sms/bulk')
        .set(auth())
        .send({ recipients: [{ phone: '0144556677' }, { phone: '0612345678' }], message: 'Bonjour' })
        .expect(202);
      // The field, then the reason as a sentence (as in a 400's details): not "phone The number…".
      expect(bulk.body.invalid).toEqual([
        expect.objectContaining({
          index: 0,
          code: 'NOT_SMS_CAPABLE',
          message: 'phone: The number is a landline (fixed line): it cannot receive SMS.',
        }),
      ]);
      expect(bulk.body.queued).toBe(1);
      const optOut = await t.http.post('/api/sms/opt-outs').set(auth()).send({ phone: 'abc' }).expect(400);
      expect(optOut.body.details[0].problems).toEqual(['phone: The input is not a phone number.']);
      expect(optOut.body).toMatchObject({
        code: 'NOT_A_NUMBER',
        explanation: "Le numéro de téléphone fourni est invalide : ce n'est pas un numéro.",
      });
      const listed = await t.http.get('/api/sms/messages?phone=abc').set(auth()).expect(400);
      expect(listed.body.details[0].problems).toEqual(['phone: The input is not a phone number.']);
      const appointment = await t.http
        .post('/api/appointments')
        .set(auth())
        .send({ clientName: 'Jean', clientPhone: '01 44 55 66 77', startsAt: inDays(3) })
        .expect(400);
      expect(appointment.body.details[0].field).toBe('clientPhone');
      expect(appointment.body).toMatchObject({ code: 'NOT_SMS_CAPABLE', hint: 'Utilisez un numéro de mobile.' });
    });

    it('keeps formatting a landline (it is a valid number)', async () => {
      const res = await t.http.post('/api/sms/format-phone').set(auth()).send({ phone: '0144556677' }).expect(200);
      expect(res.body).toMatchObject({ valid: true, type: 'FIXED_LINE' });
    });

    it('reads a pasted number with its invisible characters (direction marks, narrow no-break spaces), and sends to it', async () => {
      const pasted = '\u202a06\u202f12\u202f34\u202f56\u202f31\u202c';
      const res = await t.http.post('/api/sms/format-phone').set(auth()).send({ phone: pasted }).expect(200);
      expect(res.body).toMatchObject({ valid: true, e164: '+33612345631' });
      const sent = await t.http.post('/api/sms/send').set(auth()).send({ to: pasted, message: 'Bonjour' }).expect(201);
      expect(sent.body.to).toBe('+33612345631');
    });
  });

  it('answers one problem per field', async () => {
    const res = await t.http.post('/api/sms/send').set(auth()).send({ to: '0612345678' }).expect(400);
    expect(res.body).toMatchObject({ message: 'message is required', details: [{ field: 'message', problems: ['message is required'] }] });
  });

  it('signs in still works (sanity)', async () => {
    await t.http.post('/api/auth/login').send({ email: ROOT_EMAIL, password: 'wrong-password-here' }).expect(401);
  });
});

/** What a request may cost before it is authenticated, with the default body limit (1 MiB). */
describeEachDatabase('Request cost is bounded before authentication', (kind) => {
  let t: TestApp;
  let root: string;
  beforeAll(async () => {
    t = await TestApp.start(kind, { SMS_PROVIDER: 'dry-run' });
    root = await t.rootToken();
  });
  afterAll(() => t?.close());

  it.each([20_000, 50_000])('answers 413 to JSON nested %i levels on the public login (4 KB limit)', async (levels) => {
    await t.http.post('/api/auth/login').set('Content-Type', 'application/json').send(nested(levels)).expect(413);
  });

  it.each([
    ['/api/sms/send', 20_000],
    ['/api/users', 50_000],
    ['/api/appointments', 50_000],
  ])('answers 400 to JSON nested deep on %s (%i levels)', async (url, levels) => {
    const res = await t.http
      .post(url)
      .set('Authorization', `Bearer ${root}`)
      .set('Content-Type', 'application/json')
      .send(nested(levels))
      .expect(400);
    expect(res.body.message).toMatch(/^email(\.0)+ is nested more than 32 levels deep$/);
  });

  it('answers the 852 KB, 100,000-key login at once (413) without stalling other requests', async () => {
    const body = manyKeys(100_000);
    expect(body.length).toBeGreaterThan(800_000);
    const started = Date.now();
    let healthAt = 0;
    const [login] = await Promise.all([
      t.http.post('/api/auth/login').set('Content-Type', 'application/json').send(body),
      (async () => {
        await new Promise((resolve) => setTimeout(resolve, 5));
        await t.http.get('/api/health').expect(200);
        healthAt = Date.now() - started;
      })(),
    ]);
    expect(login.status).toBe(413);
    // 5–11 s before; generous bounds for a loaded machine.
    expect(Date.now() - started).toBeLessThan(3000);
    expect(healthAt).toBeLessThan(3000);
  });

  it('answers 100,000 keys on an authenticated route at once (400), without stalling other requests', async () => {
    const started = Date.now();
    const [res] = await Promise.all([
      t.http.post('/api/sms/send').set('Authorization', `Bearer ${root}`).set('Content-Type', 'application/json').send(manyKeys(100_000)),
      t.http.get('/api/health').expect(200),
    ]);
    expect(res.status).toBe(400);
    expect(Date.now() - started).toBeLessThan(3000);
  });
});

/** A controller of another module calling SmsService: its domain errors answer 4xx through the app-wide filter. */
@Controller('dossiers')
class DossierController {
  constructor(private readonly sms: SmsService) {}

  @Public()
  @Post('notify')
  notify(@Body() body: { phone: string }) {
    return this.sms.send(body.phone, 'Votre dossier a changé', { actor: null });
  }
}

@Module({ imports: [SmsModule], controllers: [DossierController] })
class DossierHttpModule {}

describeEachDatabase('SMS errors from any module (app-wide mapping)', (kind) => {
  const credentials = testTwilioCredentials();
  let standIn: TwilioStandIn;
  let db: TestDatabase;
  let app: NestFastifyApplication;

  beforeAll(async () => {
    standIn = await TwilioStandIn.start(credentials);
    db = await createTestDatabase(kind);
    // With the app-wide filter createApp installs; the controller above has no filter of its own.
    app = await startAppWithModule(db, standIn, credentials.authToken, DossierHttpModule, { withAppFilter: true });
  });
  afterAll(async () => {
    await app?.close();
    await db?.drop();
    await standIn?.stop();
  });

  it('answers 400 naming the field for a bad number (SmsInputError), not 500', async () => {
    const res = await request(app.getHttpServer()).post('/dossiers/notify').send({ phone: '06 12' }).expect(400);
    expect(res.body).toMatchObject({
      statusCode: 400,
      error: 'Bad Request',
      details: [{ field: 'to', problems: [expect.stringMatching(/too short/)] }],
    });
  });

  it("answers Twilio's refusal (SmsSendError) with its status, code and English hint on request", async () => {
    const res = await request(app.getHttpServer())
      .post('/dossiers/notify')
      .set('Accept-Language', 'en-GB')
      .send({ phone: TWILIO_MAGIC_NUMBERS.notMobile })
      .expect(422);
    expect(res.body).toMatchObject({
      statusCode: 422,
      code: '21614',
      message: expect.stringMatching(/not a mobile/),
      hint: 'Use a mobile number.',
    });
  });
});

describe('HTTP_REQUEST_TIMEOUT_MS', () => {
  it('answers 408 and closes a connection whose body stops coming, within the timeout and a quarter', async () => {
    const t = await TestApp.start('sqlite', { SMS_PROVIDER: 'dry-run', HTTP_REQUEST_TIMEOUT_MS: '1000' });
    try {
      await t.app.listen(0, '127.0.0.1');
      const { port } = t.app.getHttpServer().address() as AddressInfo;
      const socket = connect(port, '127.0.0.1');
      const started = Date.now();
      const answer = new Promise<string>((resolve) => {
        let text = '';
        socket.on('data', (chunk) => (text += chunk.toString()));
        socket.on('close', () => resolve(text));
      });
      // 100 bytes announced, 10 sent, then nothing.
      socket.write('POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"email":"');
      const text = await answer;
      expect(text).toMatch(/^HTTP\/1\.1 408/);
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      await t.close();
    }
  });
});
