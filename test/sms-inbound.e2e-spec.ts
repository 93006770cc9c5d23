import { ServiceUnavailableException } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';
import twilio from 'twilio';
import { DataSource } from 'typeorm';
import { vi } from 'vitest';
import { AuditAction } from '../src/audit/audit-action.enum.js';
import { AuditLog } from '../src/audit/audit-log.entity.js';
import { AuditService } from '../src/audit/audit.service.js';
import { MetricsService } from '../src/metrics/metrics.service.js';
import { OptOutService } from '../src/sms/opt-outs/opt-out.service.js';
import { SmsOptOut } from '../src/sms/opt-outs/sms-opt-out.entity.js';
import { InboundSms } from '../src/sms/webhooks/inbound-sms.entity.js';
import { InboundSmsService } from '../src/sms/webhooks/inbound-sms.service.js';
import { SMS_RECEIVED, type SmsReceivedEvent } from '../src/sms/webhooks/sms-received.event.js';
import { describeEachDatabase } from './support/databases.js';
import { LogCapture } from './support/log-capture.js';
import { TestApp, twilioEnvironment } from './support/test-app.js';
import { testTwilioCredentials } from './support/twilio-stand-in.js';

/** What the app believes its public address is; requests reach it on 127.0.0.1 regardless. */
const PUBLIC_BASE_URL = 'https://sms.example.test/backbone';
const STATUS_PATH = '/api/sms/webhooks/status';
const INBOUND_PATH = '/api/sms/webhooks/inbound';
const EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>';
const twiml = (text: string) => `<?xml version="1.0" encoding="UTF-8"?><Response><Message>${text}</Message></Response>`;
const OPT_OUT_REPLY = twiml('Vous ne recevrez plus de SMS de notre part. Répondez START pour vous réabonner.');
const OPT_IN_REPLY = twiml('Vous recevrez à nouveau nos SMS. Répondez STOP pour vous désabonner.');
const HELP_REPLY = twiml(
  'Messages de votre prise de rendez-vous. Répondez STOP pour ne plus recevoir de SMS, START pour les recevoir à nouveau.',
);
const JSON_TYPE = /^application\/json/;
/** Narrow no-break space: what a French keyboard (iOS, macOS) puts inside « ». */
const NNBSP = '\u202f';

let phoneCounter = 0;
/** A fresh French mobile number per use, so tests never share an opt-out. */
const nextPhone = () => `+3364${String(1_000_000 + ++phoneCounter * 41).padStart(7, '0')}`;
const nextSid = () => 'SM' + Array.from({ length: 32 }, () => Math.floor(Math.random() * 16).toString(16)).join('');

// One capture for the whole file: every app of this file writes its error lines here.
const capture = new LogCapture();

describeEachDatabase('Inbound SMS webhook: JSON errors, typographic keywords, senders', (kind) => {
  const credentials = testTwilioCredentials();
  let t: TestApp;
  let admin: string;

  /** A webhook request signed by the SDK's own helper over the URL as configured. */
  const signed = (path: string, params: Record<string, string>) =>
    t.http
      .post(path)
      .type('form')
      .set('X-Twilio-Signature', twilio.getExpectedTwilioSignature(credentials.authToken, PUBLIC_BASE_URL + path, params))
      .send(params);
  const inbound = (from: string, body: string, sid = nextSid()) =>
    signed(INBOUND_PATH, { MessageSid: sid, AccountSid: credentials.accountSid, From: from, To: '+33700000000', Body: body });

  const stored = (sid: string) => t.get(DataSource).getRepository(InboundSms).findOneBy({ providerSid: sid });
  const optOutCount = () => t.get(DataSource).getRepository(SmsOptOut).count();
  const optOutOf = (phone: string) => t.get(DataSource).getRepository(SmsOptOut).findOneBy({ phone });
  /** The TwiML replies journaled (send_sms by the system) to this sender. */
  const repliesTo = async (to: string) => {
    const res = await t.http.get('/api/audit?action=send_sms&limit=200').set('Authorization', `Bearer ${admin}`).expect(200);
    return res.body.items.filter(
      (e: { targetType: string; metadata: { to?: string } }) => e.targetType === 'sms_inbound' && e.metadata.to === to,
    );
  };
  const collectReceived = () => {
    const received: SmsReceivedEvent[] = [];
    const listener = (e: SmsReceivedEvent) => received.push(e);
    t.get(EventEmitter2).on(SMS_RECEIVED, listener);
    return { received, stop: () => t.get(EventEmitter2).off(SMS_RECEIVED, listener) };
  };
  const expectJsonError = (res: { status: number; headers: Record<string, string>; body: unknown }, status: number, message: string) => {
    expect(res.status).toBe(status);
    expect(res.headers['content-type']).toMatch(JSON_TYPE);
    expect(res.body).toMatchObject({ statusCode: status, error: expect.any(String), message });
  };

  beforeAll(async () => {
    t = await TestApp.start(
      kind,
      {
        // No send happens here: TwiML replies are sent by Twilio, not by us.
        ...twilioEnvironment({ baseUrl: 'http://127.0.0.1:9', accountSid: credentials.accountSid }, credentials.authToken),
        PUBLIC_BASE_URL,
      },
      undefined,
      { logDestination: capture },
    );
    admin = await t.rootToken();
  });
  afterAll(() => t?.close());
  afterEach(() => vi.restoreAllMocks());

  describe('errors are answered in the common JSON shape, never a 500 because of the TwiML content type', () => {
    it.each([
      ['a malformed MessageSid', { MessageSid: 'bad' }, 'MessageSid', 'MessageSid is malformed'],
      ['no MessageSid', { MessageSid: undefined }, 'MessageSid', 'MessageSid is required'],
      ['no From', { From: undefined }, 'From', 'From is required'],
      ['an empty From', { From: '' }, 'From', 'From is required'],
      ['a Body too long', { Body: 'x'.repeat(10_001) }, 'Body', 'Body must be at most 10000 characters'],
    ])('a signed inbound message with %s → 400 naming the field, nothing stored', async (_case, change, field, message) => {
      const { received, stop } = collectReceived();
      try {
        const params: Record<string, string> = { MessageSid: nextSid(), From: '+33644445555', To: '+33700000000', Body: 'hi' };
        for (const [key, value] of Object.entries(change)) {
          if (value === undefined) delete params[key];
          else params[key] = value;
        }
        const res = await signed(INBOUND_PATH, params);
        expectJsonError(res, 400, message);
        expect(res.body).toEqual({ statusCode: 400, error: 'Bad Request', message, details: [{ field, problems: [message] }] });
        if (params.MessageSid) expect(await stored(params.MessageSid)).toBeNull();
        expect(received).toEqual([]);
      } finally {
        stop();
      }
    });

    it('the exact payload of the report (MessageSid=bad&From=%2B33644445555&To=%2B33700000000&Body=hi) → 400, as JSON', async () => {
      const raw = 'MessageSid=bad&From=%2B33644445555&To=%2B33700000000&Body=hi';
      const params = { MessageSid: 'bad', From: '+33644445555', To: '+33700000000', Body: 'hi' };
      const res = await t.http
        .post(INBOUND_PATH)
        .set('Content-Type', 'application/x-www-form-urlencoded')
        .set('X-Twilio-Signature', twilio.getExpectedTwilioSignature(credentials.authToken, PUBLIC_BASE_URL + INBOUND_PATH, params))
        .send(raw);
      expectJsonError(res, 400, 'MessageSid is malformed');
    });

    it('a missing or wrong signature → the JSON 403 on both webhooks', async () => {
      const params = { MessageSid: nextSid(), From: '+33644445555', To: '+33700000000', Body: 'STOP' };
      for (const path of [INBOUND_PATH, STATUS_PATH]) {
        expectJsonError(await t.http.post(path).type('form').send(params), 403, 'Missing or invalid X-Twilio-Signature');
        expectJsonError(
          await t.http.post(path).type('form').set('X-Twilio-Signature', 'bm90IGEgc2lnbmF0dXJl').send(params),
          403,
          'Missing or invalid X-Twilio-Signature',
        );
      }
      expect(await stored(params.MessageSid)).toBeNull();
      expect(await optOutOf('+33644445555')).toBeNull();
    });

    it('the status callback answers its 400 as JSON too', async () => {
      expectJsonError(await signed(STATUS_PATH, { MessageStatus: 'delivered' }), 400, 'MessageSid is required');
      expectJsonError(await signed(STATUS_PATH, { MessageSid: 'bad', MessageStatus: 'delivered' }), 400, 'MessageSid is malformed');
      expectJsonError(await signed(STATUS_PATH, { MessageSid: nextSid() }), 400, 'MessageStatus is required');
    });

    it('an unexpected error in the handler is the JSON 500, without internals', async () => {
      vi.spyOn(t.get(InboundSmsService), 'receive').mockRejectedValueOnce(new Error('relation "sms_inbound_messages" is locked'));
      const res = await inbound(nextPhone(), 'Merci');
      expect(res.body).toEqual({ statusCode: 500, error: 'Internal Server Error', message: 'An unexpected error occurred' });
      expect(res.headers['content-type']).toMatch(JSON_TYPE);
    });

    it('an error thrown once the answer is TwiML (text/xml) keeps its status and is answered as JSON', async () => {
      const metrics = t.get(MetricsService);
      const original = metrics.webhook.bind(metrics);
      vi.spyOn(metrics, 'webhook').mockImplementation((outcome, type) => {
        if (outcome === 'accepted' && type === 'inbound') throw new ServiceUnavailableException('Metrics are being reset');
        original(outcome, type);
      });
      const res = await inbound(nextPhone(), 'Merci');
      expect(res.body).toEqual({ statusCode: 503, error: 'Service Unavailable', message: 'Metrics are being reset' });
      expect(res.headers['content-type']).toMatch(JSON_TYPE);
    });

    it('never logs a payload type error', () => {
      expect(capture.text).not.toMatch(/FST_ERR_REP_INVALID_PAYLOAD_TYPE|Attempted to send payload of invalid type/);
    });
  });

  describe('keywords with typographic punctuation', () => {
    it.each([
      '«STOP»',
      `«${NNBSP}STOP${NNBSP}»`,
      '« stop »',
      '«\u00a0Stop\u00a0»',
      '“STOP”',
      '"STOP"',
      '‘stop’',
      '„Stop“',
      '‹STOP›',
      '¡STOP!',
      `STOP${NNBSP}!`,
      'STOP…',
      '— STOP —',
      '*STOP*',
      '\u200bSTOP\u200b',
      `«${NNBSP}Arrêt${NNBSP}»`,
      '« Stop SMS »',
      '«DÉSABONNER»',
      'ＳＴＯＰ',
      'STOP 🛑',
      '🙏🏽 Arrêt ❤️',
    ])('%j opts the number out and confirms', async (body) => {
      const phone = nextPhone();
      const res = await inbound(phone, body).expect(200);
      expect(res.headers['content-type']).toMatch(/^text\/xml/);
      expect(res.text).toBe(OPT_OUT_REPLY);
      expect(await optOutOf(phone)).toMatchObject({ phone, source: 'keyword' });
    });

    it('opt-in and help keywords are folded the same way; a sentence in guillemets stays an ordinary reply', async () => {
      const phone = nextPhone();
      await inbound(phone, `«${NNBSP}STOP${NNBSP}»`).expect(200);
      expect((await inbound(phone, `«${NNBSP}Démarrer${NNBSP}»`).expect(200)).text).toBe(OPT_IN_REPLY);
      expect(await optOutOf(phone)).toBeNull();
      expect((await inbound(phone, '“Aide ?”').expect(200)).text).toBe(HELP_REPLY);
      expect((await inbound(phone, '« Stop, je serai en retard »').expect(200)).text).toBe(EMPTY_TWIML);
      expect((await inbound(phone, '«STOPPER»').expect(200)).text).toBe(EMPTY_TWIML);
      expect((await inbound(phone, '🛑').expect(200)).text).toBe(EMPTY_TWIML);
      expect(await optOutOf(phone)).toBeNull();
    });
  });

  describe('opt-in words from a number that had not opted out', () => {
    it('"Oui" answering a confirmation is an ordinary reply: stored and announced, no opt-in confirmation sent or journaled', async () => {
      const { received, stop } = collectReceived();
      try {
        const phone = nextPhone();
        const sid = nextSid();
        expect((await inbound(phone, 'Oui', sid).expect(200)).text).toBe(EMPTY_TWIML);
        expect((await inbound(phone, 'START').expect(200)).text).toBe(EMPTY_TWIML);
        expect(await stored(sid)).toMatchObject({ from: phone, body: 'Oui' });
        expect(received.map((e) => e.providerSid)).toContain(sid);
        expect(await repliesTo(phone)).toEqual([]);
        // Once opted out, the same word lifts the opt-out and is confirmed, once.
        expect((await inbound(phone, 'STOP').expect(200)).text).toBe(OPT_OUT_REPLY);
        expect((await inbound(phone, 'Oui').expect(200)).text).toBe(OPT_IN_REPLY);
        expect(await optOutOf(phone)).toBeNull();
        expect((await inbound(phone, 'Oui').expect(200)).text).toBe(EMPTY_TWIML);
        expect((await repliesTo(phone)).map((e: { metadata: { keyword: string } }) => e.metadata.keyword).sort()).toEqual([
          'opt_in',
          'opt_out',
        ]);
      } finally {
        stop();
      }
    });
  });

  describe('senders', () => {
    it.each(['garbage!', '+33 6 garbage', '+336', '+33 6 12', '06 12', 'not a phone number', '+1234567890123456', '12'])(
      'From=%j (no phone number, short code nor alphanumeric sender) → 400 naming From; nothing stored, opted out or answered',
      async (from) => {
        const sid = nextSid();
        const optOuts = await optOutCount();
        const res = await inbound(from, 'STOP', sid);
        expectJsonError(res, 400, 'From must be a phone number (E.164), a short code or an alphanumeric sender ID');
        expect(res.body.details).toEqual([{ field: 'From', problems: [res.body.message] }]);
        expect(await stored(sid)).toBeNull();
        expect(await optOutCount()).toBe(optOuts);
        expect(await repliesTo(from)).toEqual([]);
      },
    );

    it('an OptOutType that grows when upper-cased (ß → SS) is stored within its 16 characters: no 500', async () => {
      const sid = nextSid();
      const params = { MessageSid: sid, AccountSid: credentials.accountSid, From: nextPhone(), To: '+33700000000', Body: 'x' };
      await signed(INBOUND_PATH, { ...params, OptOutType: 'ß'.repeat(16) }).expect(200);
      expect(await stored(sid)).toMatchObject({ optOutType: 'S'.repeat(16) });
    });

    it('STOP from an E.164 number of a range the phone library does not know is stored, opted out and confirmed (a 400 would lose it)', async () => {
      const from = '+33712345678'; // E.164, but 07 12 is not an allocated French range for libphonenumber
      const sid = nextSid();
      const res = await inbound(from, 'STOP', sid).expect(200);
      expect(res.text).toBe(OPT_OUT_REPLY);
      expect(await stored(sid)).toMatchObject({ from });
      expect(await optOutOf(from)).not.toBeNull();
    });

    it('STOP from an alphanumeric sender (From=garbage) is stored and announced, but neither confirmed, journaled as a reply, nor opted out', async () => {
      const { received, stop } = collectReceived();
      try {
        const sid = nextSid();
        const optOuts = await optOutCount();
        const res = await inbound('garbage', 'STOP', sid).expect(200);
        expect(res.text).toBe(EMPTY_TWIML);
        expect(await optOutCount()).toBe(optOuts);
        expect(await repliesTo('garbage')).toEqual([]);
        expect(await stored(sid)).toMatchObject({ from: 'garbage', body: 'STOP', keyword: 'opt_out' });
        expect(received).toEqual([expect.objectContaining({ providerSid: sid, from: 'garbage', keyword: 'opt_out' })]);
      } finally {
        stop();
      }
    });

    it('a short code or an alphanumeric sender asking for help gets no reply (Twilio cannot text it back)', async () => {
      for (const from of ['36180', 'Cabinet 12']) {
        const sid = nextSid();
        expect((await inbound(from, 'HELP', sid).expect(200)).text).toBe(EMPTY_TWIML);
        expect(await stored(sid)).toMatchObject({ from, keyword: 'help' });
        expect(await repliesTo(from)).toEqual([]);
      }
    });

    it("a STOP whose opt-out could not be written is not kept: Twilio's retry of it opts the number out and is answered", async () => {
      const phone = nextPhone();
      const sid = nextSid();
      vi.spyOn(t.get(OptOutService), 'optOut').mockRejectedValueOnce(new Error('database unavailable'));
      const failed = await inbound(phone, 'STOP', sid);
      expect(failed.status).toBe(500);
      expect(await stored(sid)).toBeNull();
      expect(await optOutOf(phone)).toBeNull();
      // Twilio retries the same message (same MessageSid).
      expect((await inbound(phone, 'STOP', sid).expect(200)).text).toBe(OPT_OUT_REPLY);
      expect(await optOutOf(phone)).toMatchObject({ source: 'keyword' });
      expect(await stored(sid)).toMatchObject({ keyword: 'opt_out' });
      expect((await inbound(phone, 'STOP', sid).expect(200)).text).toBe(EMPTY_TWIML);
    });

    it("Twilio's retry of a STOP that arrives while the first delivery is still being handled waits for it: a failed first is handled again, not dropped", async () => {
      const phone = nextPhone();
      const sid = nextSid();
      // The first delivery's opt-out is slow, then fails; Twilio (having timed out) retries meanwhile.
      let firstStarted!: () => void;
      const started = new Promise<void>((resolve) => (firstStarted = resolve));
      vi.spyOn(t.get(OptOutService), 'optOut').mockImplementationOnce(async () => {
        firstStarted();
        await new Promise((resolve) => setTimeout(resolve, 300));
        throw new Error('database unavailable');
      });
      const first = inbound(phone, 'STOP', sid).then((res) => res);
      await started;
      const retry = await inbound(phone, 'STOP', sid);
      // Not answered "already have it" (an empty 200 Twilio takes as delivered) while the first could still fail.
      expect(retry.status).toBe(200);
      expect(retry.text).toBe(OPT_OUT_REPLY);
      expect((await first).status).toBe(500);
      expect(await optOutOf(phone)).toMatchObject({ source: 'keyword' });
      expect(await stored(sid)).toMatchObject({ keyword: 'opt_out' });
      expect(await repliesTo(phone)).toHaveLength(1);
    });

    it("a START arriving while the same number's STOP is being written waits for it, and lifts it", async () => {
      const phone = nextPhone();
      const optOuts = t.get(OptOutService);
      const optOut = optOuts.optOut.bind(optOuts);
      let stopWriting!: () => void;
      const writing = new Promise<void>((resolve) => (stopWriting = resolve));
      // The STOP's opt-out is written, then its transaction stays open a moment before it commits.
      vi.spyOn(optOuts, 'optOut').mockImplementationOnce(async (...args) => {
        const result = await optOut(...args);
        stopWriting();
        await new Promise((resolve) => setTimeout(resolve, 300));
        return result;
      });
      const stop = inbound(phone, 'STOP').then((res) => res);
      await writing;
      const start = await inbound(phone, 'START');
      expect((await stop).text).toBe(OPT_OUT_REPLY);
      // The later message wins: the number may be texted again, and was told so.
      expect(start.text).toBe(OPT_IN_REPLY);
      expect(await optOutOf(phone)).toBeNull();
    });

    it('a STOP arriving while staff remove the same number from the list waits for the removal, and stands', async () => {
      const phone = nextPhone();
      const auth = { Authorization: `Bearer ${admin}` };
      await t.http.post('/api/sms/opt-outs').set(auth).send({ phone, reason: 'Courrier' }).expect(201);
      const audit = t.get(AuditService);
      const record = audit.record.bind(audit);
      let stop: Promise<{ status: number; text: string }> | undefined;
      // The removal is written and being journaled, its transaction still open, when the client's STOP comes.
      vi.spyOn(audit, 'record').mockImplementation(async (entry, manager) => {
        if (entry.action === AuditAction.SmsOptIn && !stop) {
          stop = inbound(phone, 'STOP').then((res) => res);
          await new Promise((resolve) => setTimeout(resolve, 300));
        }
        return record(entry, manager);
      });
      await t.http
        .delete(`/api/sms/opt-outs/${encodeURIComponent(phone)}`)
        .set(auth)
        .expect(200);
      expect(stop).toBeDefined();
      expect((await stop!).text).toBe(OPT_OUT_REPLY);
      // The STOP came last: the number stays opted out (it was read as "already opted out", then lifted by the removal).
      expect(await optOutOf(phone)).toMatchObject({ source: 'keyword' });
    });

    it('a STOP and its retry at once: one opt-out, one reply, the other answered as a duplicate', async () => {
      const phone = nextPhone();
      const sid = nextSid();
      const answers = await Promise.all(Array.from({ length: 5 }, () => inbound(phone, 'STOP', sid)));
      expect(answers.map((res) => res.status)).toEqual([200, 200, 200, 200, 200]);
      expect(answers.filter((res) => res.text === OPT_OUT_REPLY)).toHaveLength(1);
      expect(answers.filter((res) => res.text === EMPTY_TWIML)).toHaveLength(4);
      expect(await optOutOf(phone)).toMatchObject({ source: 'keyword' });
      expect(await repliesTo(phone)).toHaveLength(1);
    });

    it('an opt-out or opt-in whose journal entry could not be written does not stand: no change goes unjournaled', async () => {
      const phone = nextPhone();
      const audit = t.get(AuditService);
      const record = audit.record.bind(audit);
      /** The journal refuses entries of this action (once), as a failing database would. */
      const refuse = (action: AuditAction) =>
        vi.spyOn(audit, 'record').mockImplementation(async (entry, manager) => {
          if (entry.action === action) {
            vi.mocked(audit.record).mockRestore();
            throw new Error('journal unavailable');
          }
          return record(entry, manager);
        });
      const journal = async (action: AuditAction) =>
        (await t.get(DataSource).getRepository(AuditLog).findBy({ action })).filter((e) => e.metadata?.phone === phone);
      refuse(AuditAction.SmsOptOut);
      const stop = nextSid();
      expect((await inbound(phone, 'STOP', stop)).status).toBe(500);
      expect(await optOutOf(phone), 'the opt-out is rolled back with its entry').toBeNull();
      expect((await inbound(phone, 'STOP', stop).expect(200)).text).toBe(OPT_OUT_REPLY);
      expect(await optOutOf(phone)).toMatchObject({ source: 'keyword' });
      expect(await journal(AuditAction.SmsOptOut)).toHaveLength(1);

      refuse(AuditAction.SmsOptIn);
      const start = nextSid();
      expect((await inbound(phone, 'START', start)).status).toBe(500);
      expect(await optOutOf(phone), 'the removal is rolled back with its entry').toMatchObject({ source: 'keyword' });
      expect((await inbound(phone, 'START', start).expect(200)).text).toBe(OPT_IN_REPLY);
      expect(await optOutOf(phone)).toBeNull();
      expect(await journal(AuditAction.SmsOptIn)).toHaveLength(1);
    });

    it('a phone number, E.164 or national, is still opted out and confirmed', async () => {
      const e164 = nextPhone();
      expect((await inbound(e164, 'STOP').expect(200)).text).toBe(OPT_OUT_REPLY);
      expect(await optOutOf(e164)).toMatchObject({ source: 'keyword' });
      expect(await repliesTo(e164)).toHaveLength(1);
      const national = nextPhone();
      expect((await inbound(national.replace('+33', '0'), 'STOP').expect(200)).text).toBe(OPT_OUT_REPLY);
      expect(await optOutOf(national)).toMatchObject({ source: 'keyword' });
    });
  });
});
