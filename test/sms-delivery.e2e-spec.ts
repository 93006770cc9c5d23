import { EventEmitter2 } from '@nestjs/event-emitter';
import { randomUUID } from 'node:crypto';
import { vi } from 'vitest';
import twilio from 'twilio';
import { DataSource, In } from 'typeorm';
import { Clock } from '../src/common/clock.js';
import { MetricsService } from '../src/metrics/metrics.service.js';
import { OptOutService } from '../src/sms/opt-outs/opt-out.service.js';
import { OptOutSource } from '../src/sms/opt-outs/sms-opt-out.entity.js';
import { PURGED, SmsKind, SmsMessage } from '../src/sms/sms-message.entity.js';
import { SMS_PROVIDER, type SmsProvider } from '../src/sms/providers/sms-provider.js';
import { SmsStatusEvent } from '../src/sms/webhooks/sms-status-event.entity.js';
import { DeliveryStatusService } from '../src/sms/webhooks/delivery-status.service.js';
import { WebhookRefusals } from '../src/sms/webhooks/webhook-refusals.js';
import { SMS_RECEIVED, type SmsReceivedEvent } from '../src/sms/webhooks/sms-received.event.js';
import { Role } from '../src/users/role.enum.js';
import { createTestDatabase, describeEachDatabase } from './support/databases.js';
import { TestApp, twilioEnvironment } from './support/test-app.js';
import { testTwilioCredentials, TwilioStandIn } from './support/twilio-stand-in.js';

/** What the app believes its public address is; requests reach it on 127.0.0.1 regardless. */
const PUBLIC_BASE_URL = 'https://sms.example.test/backbone';
const STATUS_PATH = '/api/sms/webhooks/status';
const INBOUND_PATH = '/api/sms/webhooks/inbound';
const EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>';
const twiml = (text: string) => `<?xml version="1.0" encoding="UTF-8"?><Response><Message>${text}</Message></Response>`;

let phoneCounter = 0;
/** A fresh French mobile number per use, so tests never share an opt-out. */
const nextPhone = () => `+3361${String(1_000_000 + ++phoneCounter * 37).padStart(7, '0')}`;

describeEachDatabase('Delivery callbacks, inbound SMS and opt-outs', (kind) => {
  const credentials = testTwilioCredentials();
  let standIn: TwilioStandIn;
  let t: TestApp;
  let admin: string;
  const auth = (token: string) => ({ Authorization: `Bearer ${token}` });

  /** A webhook request signed by the SDK's own helper over the URL as configured (not the Host the request used). */
  const signed = (
    path: string,
    params: Record<string, string>,
    options: { token?: string; url?: string; headers?: Record<string, string> } = {},
  ) => {
    const signature = twilio.getExpectedTwilioSignature(
      options.token ?? credentials.authToken,
      options.url ?? PUBLIC_BASE_URL + path,
      params,
    );
    return t.http
      .post(path)
      .type('form')
      .set({ 'X-Twilio-Signature': signature, ...(options.headers ?? {}) })
      .send(params);
  };
  const statusCallback = (sid: string, status: string, extra: Record<string, string> = {}, headers?: Record<string, string>) =>
    signed(
      STATUS_PATH,
      { MessageSid: sid, MessageStatus: status, AccountSid: credentials.accountSid, ApiVersion: '2010-04-01', ...extra },
      { headers },
    );
  const inbound = (from: string, body: string, extra: Record<string, string> = {}) =>
    signed(INBOUND_PATH, {
      MessageSid: 'SM' + Math.random().toString(16).slice(2).padEnd(32, '0').slice(0, 32),
      AccountSid: credentials.accountSid,
      From: from,
      To: '+33700000000',
      Body: body,
      NumMedia: '0',
      ...extra,
    });

  /** Sends one SMS through the app and the stand-in; returns our id and Twilio's SID. */
  const sendOne = async (to = nextPhone()) => {
    const res = await t.http.post('/api/sms/send').set(auth(admin)).send({ to, message: 'Rappel : rendez-vous demain' }).expect(201);
    return { id: res.body.id as string, sid: res.body.sid as string, to };
  };
  const message = async (id: string, lang = 'fr') =>
    (await t.http.get(`/api/sms/messages/${id}`).set(auth(admin)).set('Accept-Language', lang).expect(200)).body;
  const optOutOf = async (phone: string) =>
    (
      await t.http
        .get(`/api/sms/opt-outs?phone=${encodeURIComponent(phone)}`)
        .set(auth(admin))
        .expect(200)
    ).body.items[0] ?? null;

  beforeAll(async () => {
    standIn = await TwilioStandIn.start(credentials);
    t = await TestApp.start(kind, { ...twilioEnvironment(standIn, credentials.authToken), PUBLIC_BASE_URL });
    admin = (await t.userWithRole(Role.Admin)).token;
  });
  afterAll(async () => {
    await t?.close();
    await standIn?.stop();
  });

  it('records status callbacks arriving at once, beside opt-outs: each in its own transaction, none refused (SQLite shares one connection)', async () => {
    const sid = (i: number) => 'SM' + (0xc0ffee00 + i).toString(16).padStart(32, '0');
    const [callbacks, optOuts] = await Promise.all([
      Promise.allSettled(
        Array.from({ length: 40 }, (_, i) =>
          t.get(DeliveryStatusService).apply({ sid: sid(i), status: 'delivered', errorCode: null, idempotencyToken: null }),
        ),
      ),
      Promise.allSettled(
        Array.from({ length: 10 }, (_, i) =>
          t.get(OptOutService).optOut(`+3361239${String(i).padStart(4, '0')}`, { source: OptOutSource.Manual }),
        ),
      ),
    ]);
    expect(callbacks.filter((r) => r.status === 'rejected')).toEqual([]);
    expect(optOuts.filter((r) => r.status === 'rejected')).toEqual([]);
    expect(callbacks.map((r) => (r as PromiseFulfilledResult<{ outcome: string }>).value.outcome)).toEqual(
      Array(40).fill('unknown_message'),
    );
    const kept = await t
      .get(DataSource)
      .getRepository(SmsStatusEvent)
      .countBy({ providerSid: In(Array.from({ length: 40 }, (_, i) => sid(i))) });
    expect(kept).toBe(40);
  });

  describe('signature', () => {
    it('a valid callback moves the message and answers what happened', async () => {
      const { id, sid } = await sendOne();
      const res = await statusCallback(sid, 'delivered').expect(200);
      expect(res.body).toEqual({ outcome: 'applied', messageId: id, status: 'delivered' });
      expect(await message(id)).toMatchObject({ status: 'delivered', history: [{ status: 'delivered', applied: true }] });
    });

    it('refuses missing, forged, wrongly keyed, tampered and Host-based signatures with 403, changing nothing, each counted, journaled once per reason without the payload', async () => {
      const { id, sid } = await sendOne();
      const refusals = t.get(WebhookRefusals);
      const before = refusals.total;
      const params = { MessageSid: sid, MessageStatus: 'delivered', AccountSid: credentials.accountSid };
      const attempts = [
        // no signature at all
        t.http.post(STATUS_PATH).type('form').send(params),
        // a made-up one
        t.http.post(STATUS_PATH).type('form').set('X-Twilio-Signature', 'bm90IGEgc2lnbmF0dXJl').send(params),
        // signed with another auth token
        signed(STATUS_PATH, params, { token: 'another-auth-token-0123456789' }),
        // signed for the Host the caller chose, not the configured public URL
        signed(STATUS_PATH, params, { url: `https://attacker.test${STATUS_PATH}`, headers: { Host: 'attacker.test' } }),
        // signed for another path
        signed(STATUS_PATH, params, { url: PUBLIC_BASE_URL + INBOUND_PATH }),
      ];
      for (const attempt of attempts) {
        const res = await attempt;
        expect(res.status).toBe(403);
        expect(res.body).toMatchObject({ statusCode: 403, message: 'Missing or invalid X-Twilio-Signature' });
      }
      // A genuine signature replayed over another body (the status changed after signing).
      const signature = twilio.getExpectedTwilioSignature(credentials.authToken, PUBLIC_BASE_URL + STATUS_PATH, {
        ...params,
        MessageStatus: 'sent',
      });
      await t.http.post(STATUS_PATH).type('form').set('X-Twilio-Signature', signature).send(params).expect(403);

      expect(await message(id)).toMatchObject({ status: 'queued', history: [] });
      expect(refusals.total - before).toBe(6);
      expect(refusals.snapshot()).toEqual(
        expect.arrayContaining([
          { route: STATUS_PATH, reason: 'missing_signature', count: expect.any(Number) },
          { route: STATUS_PATH, reason: 'invalid_signature', count: expect.any(Number) },
        ]),
      );
      // The first refusal of each (client IP, route, reason) is journaled at once, the others of that minute only counted.
      const audit = await t.http.get('/api/audit?action=sms_webhook_refused&limit=10').set(auth(admin)).expect(200);
      expect(audit.body.items.map((e: { metadata: { reason: string } }) => e.metadata.reason).sort()).toEqual([
        'invalid_signature',
        'missing_signature',
      ]);
      for (const entry of audit.body.items) {
        expect(entry).toMatchObject({ action: 'sms_webhook_refused', actorId: null, targetType: 'sms_webhook', targetId: STATUS_PATH });
        expect(Object.keys(entry.metadata).sort()).toEqual(['reason', 'route']);
        expect(JSON.stringify(entry)).not.toContain(sid);
      }
    });

    it('checks the query string as configured too', async () => {
      const { id, sid } = await sendOne();
      const params = { MessageSid: sid, MessageStatus: 'sent' };
      const path = `${STATUS_PATH}?source=console`;
      const good = twilio.getExpectedTwilioSignature(credentials.authToken, PUBLIC_BASE_URL + path, params);
      const withoutQuery = twilio.getExpectedTwilioSignature(credentials.authToken, PUBLIC_BASE_URL + STATUS_PATH, params);
      await t.http.post(path).type('form').set('X-Twilio-Signature', withoutQuery).send(params).expect(403);
      await t.http.post(path).type('form').set('X-Twilio-Signature', good).send(params).expect(200);
      expect((await message(id)).status).toBe('sent');
    });

    it('refuses inbound messages without a valid signature, storing and opting out nothing', async () => {
      const phone = nextPhone();
      const received: SmsReceivedEvent[] = [];
      const listener = (e: SmsReceivedEvent) => received.push(e);
      t.get(EventEmitter2).on(SMS_RECEIVED, listener);
      try {
        await t.http
          .post(INBOUND_PATH)
          .type('form')
          .send({ MessageSid: 'SM' + 'a'.repeat(32), From: phone, Body: 'STOP' })
          .expect(403);
        expect(await optOutOf(phone)).toBeNull();
        expect(received).toHaveLength(0);
      } finally {
        t.get(EventEmitter2).off(SMS_RECEIVED, listener);
      }
    });

    it('a flood of unsigned calls: all refused with 403 and counted, one journal entry per minute summing the others', async () => {
      const refusals = t.get(WebhookRefusals);
      const refusedMetric = async () =>
        (await t.get(MetricsService).registry.getSingleMetric('sms_webhooks_total')!.get()).values.find(
          (v) => v.labels.type === 'inbound' && v.labels.outcome === 'refused_signature',
        )?.value ?? 0;
      const journal = async (from: Date) =>
        (await t.http.get(`/api/audit?action=sms_webhook_refused&from=${from.toISOString()}&limit=100`).set(auth(admin)).expect(200)).body
          .items as { targetId: string; ip: string; metadata: Record<string, unknown> }[];
      const unsigned = () =>
        t.http
          .post(INBOUND_PATH)
          .type('form')
          .send({ MessageSid: 'SM' + 'f'.repeat(32), From: nextPhone(), Body: 'garbage' });
      // Past any window earlier tests opened for this client, route and reason.
      const later = Date.now() + 3_600_000;
      const clock = vi.spyOn(t.get(Clock), 'now').mockReturnValue(new Date(later));
      try {
        const [totalBefore, metricBefore, start] = [refusals.total, await refusedMetric(), new Date()];
        const answers = await Promise.all(Array.from({ length: 30 }, unsigned));
        expect(answers.map((r) => r.status)).toEqual(Array(30).fill(403));
        expect(answers[0].body).toMatchObject({ statusCode: 403, message: 'Missing or invalid X-Twilio-Signature' });
        expect(refusals.total - totalBefore).toBe(30);
        expect((await refusedMetric()) - metricBefore).toBe(30);
        const first = await journal(start);
        expect(first).toHaveLength(1);
        expect(first[0]).toMatchObject({ targetId: INBOUND_PATH, metadata: { route: INBOUND_PATH, reason: 'missing_signature' } });

        // A minute later, the next refusal's entry stands for the 29 held back and itself.
        clock.mockReturnValue(new Date(later + 60_000));
        const next = new Date();
        await unsigned().expect(403);
        const second = await journal(next);
        expect(second).toHaveLength(1);
        expect(second[0].metadata).toEqual({
          route: INBOUND_PATH,
          reason: 'missing_signature',
          count: 30,
          refusedSince: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        });
        expect(second[0].ip).toBe(first[0].ip);
        expect(refusals.total - totalBefore).toBe(31);
      } finally {
        clock.mockRestore();
      }
    });

    it('names a missing or unknown status with 400', async () => {
      const { sid } = await sendOne();
      const missing = await signed(STATUS_PATH, { MessageSid: sid }).expect(400);
      expect(missing.body).toMatchObject({ details: [{ field: 'MessageStatus', problems: ['MessageStatus is required'] }] });
      const unknown = await statusCallback(sid, 'teleported').expect(400);
      expect(unknown.body.details[0]).toMatchObject({
        field: 'MessageStatus',
        problems: [expect.stringContaining('must be one of accepted, scheduled')],
      });
      const badSid = await statusCallback('not-a-sid', 'sent').expect(400);
      expect(badSid.body.details[0].field).toBe('MessageSid');
    });
  });

  describe('status lifecycle', () => {
    it('moves only forward: a late sent never overwrites delivered, and the history keeps both', async () => {
      const { id, sid } = await sendOne();
      expect((await statusCallback(sid, 'sent').expect(200)).body.outcome).toBe('applied');
      expect((await statusCallback(sid, 'delivered').expect(200)).body.outcome).toBe('applied');
      expect((await statusCallback(sid, 'sending').expect(200)).body).toMatchObject({ outcome: 'stale', status: 'delivered' });
      expect((await statusCallback(sid, 'undelivered', { ErrorCode: '30003' }).expect(200)).body.outcome).toBe('stale');
      const stored = await message(id);
      expect(stored).toMatchObject({ status: 'delivered', errorCode: null });
      expect(stored.history.map((h: { status: string; applied: boolean }) => [h.status, h.applied])).toEqual([
        ['sent', true],
        ['delivered', true],
        ['sending', false],
        ['undelivered', false],
      ]);
      for (const h of stored.history) expect(new Date(h.at).getTime()).toBeGreaterThan(0);
    });

    it("keeps a batch's message sent when Twilio reports it sending or failed: counts, progress and lists agree", async () => {
      const phones = [nextPhone(), nextPhone(), nextPhone()];
      const res = await t.http
        .post('/api/sms/bulk')
        .set(auth(admin))
        .send({ recipients: phones.map((phone) => ({ phone })), message: 'Bonjour' })
        .expect(202);
      const batchId = res.body.batchId as string;
      await t.settle();
      const listed = (await t.http.get(`/api/sms/bulk/${batchId}/messages`).set(auth(admin)).expect(200)).body.items as {
        providerSid: string;
      }[];
      expect((await statusCallback(listed[0].providerSid, 'sending').expect(200)).body.outcome).toBe('applied');
      expect((await statusCallback(listed[1].providerSid, 'failed', { ErrorCode: '30008' }).expect(200)).body.outcome).toBe('applied');
      const view = (await t.http.get(`/api/sms/bulk/${batchId}`).set(auth(admin)).expect(200)).body;
      expect(view).toMatchObject({ status: 'completed', progress: 1, counts: { queued: 0, sending: 0, sent: 2, failed: 1 } });
      const ids = async (state: string) =>
        (await t.http.get(`/api/sms/bulk/${batchId}/messages?state=${state}`).set(auth(admin)).expect(200)).body.items.map(
          (m: { providerSid: string }) => m.providerSid,
        );
      expect(await ids('sending')).toEqual([]);
      expect(await ids('sent')).toEqual([listed[0].providerSid, listed[2].providerSid]);
      expect(await ids('failed')).toEqual([listed[1].providerSid]);
    });

    it('a repeated callback (same SID and status, or same idempotency token) changes nothing', async () => {
      const { id, sid } = await sendOne();
      await statusCallback(sid, 'sent', {}, { 'I-Twilio-Idempotency-Token': 'tok-1' }).expect(200);
      expect((await statusCallback(sid, 'sent').expect(200)).body.outcome).toBe('duplicate');
      // Same token, even with another body: Twilio delivering the same callback again.
      expect((await statusCallback(sid, 'delivered', {}, { 'I-Twilio-Idempotency-Token': 'tok-1' }).expect(200)).body.outcome).toBe(
        'duplicate',
      );
      const stored = await message(id);
      expect(stored.status).toBe('sent');
      expect(stored.history).toHaveLength(1);
    });

    it('stores the error code of an undelivered message, explained in the caller’s language', async () => {
      const { id, sid } = await sendOne();
      await statusCallback(sid, 'sent').expect(200);
      await statusCallback(sid, 'undelivered', { ErrorCode: '30003', ErrorMessage: 'Unreachable destination handset' }).expect(200);
      const fr = await message(id, 'fr');
      expect(fr).toMatchObject({
        status: 'undelivered',
        errorCode: '30003',
        errorExplanation: expect.stringMatching(/^Téléphone injoignable/),
      });
      expect(fr.history[1]).toMatchObject({
        status: 'undelivered',
        errorCode: '30003',
        errorExplanation: expect.stringMatching(/injoignable/),
      });
      const en = await message(id, 'en');
      expect(en.errorExplanation).toMatch(/^Unreachable handset/);

      const other = await sendOne();
      await statusCallback(other.sid, 'failed', { ErrorCode: '30034' }).expect(200);
      expect((await message(other.id, 'en')).errorExplanation).toMatch(/Unregistered sender/);
    });

    it('concurrent, shuffled and repeated callbacks end at the highest status, each status once in the history', async () => {
      const sends = await Promise.all(Array.from({ length: 4 }, () => sendOne()));
      const statuses = ['accepted', 'queued', 'sending', 'sent', 'delivered', 'sent', 'delivered', 'queued'];
      const calls = sends.flatMap(({ sid }) => statuses.map((s) => () => statusCallback(sid, s)));
      calls.sort(() => Math.random() - 0.5);
      const answers = await Promise.all(calls.map((call) => call()));
      for (const answer of answers) expect(answer.status).toBe(200);
      for (const { id } of sends) {
        const stored = await message(id);
        expect(stored.status).toBe('delivered');
        expect(stored.history.map((h: { status: string }) => h.status).sort()).toEqual([
          'accepted',
          'delivered',
          'queued',
          'sending',
          'sent',
        ]);
        expect(stored.history.filter((h: { status: string; applied: boolean }) => h.status === 'delivered' && h.applied)).toHaveLength(1);
      }
    });

    it('a failed callback with 21610 (unsubscribed at Twilio) puts the number on the opt-out list', async () => {
      const { id, sid, to } = await sendOne();
      await statusCallback(sid, 'failed', { ErrorCode: '21610' }).expect(200);
      expect(await message(id)).toMatchObject({
        status: 'failed',
        errorCode: '21610',
        errorExplanation: expect.stringMatching(/désabonné/),
      });
      expect(await optOutOf(to)).toMatchObject({ phone: to, source: 'twilio_21610' });
    });

    it('a 21610 callback about a message whose number retention purged puts nothing on the opt-out list', async () => {
      const p = (n: number) => (kind === 'postgres' ? `$${n}` : '?');
      const purge = (id: string) =>
        t.get(DataSource).query(`UPDATE "sms_messages" SET "to" = ${p(1)}, "body" = ${p(2)} WHERE "id" = ${p(3)}`, [PURGED, PURGED, id]);
      const optOutRows = async () => Number((await t.get(DataSource).query(`SELECT COUNT(*) AS n FROM "sms_opt_outs"`))[0].n);
      const before = await optOutRows();
      const { id, sid } = await sendOne();
      await purge(id);
      expect((await statusCallback(sid, 'undelivered', { ErrorCode: '21610' }).expect(200)).body.outcome).toBe('applied');
      expect(await message(id)).toMatchObject({ status: 'undelivered', errorCode: '21610' });
      // A callback that came before the SID was stored, adopted once the answer is.
      const early = 'SM' + randomHex(32);
      await statusCallback(early, 'failed', { ErrorCode: '21610' }).expect(200);
      const second = await sendOne();
      await purge(second.id);
      await t.get(DataSource).query(`UPDATE "sms_messages" SET "provider_sid" = ${p(1)} WHERE "id" = ${p(2)}`, [early, second.id]);
      expect(await t.get(DeliveryStatusService).adoptEarlyCallbacks(second.id, early)).toBe(1);
      expect(await optOutRows()).toBe(before);
      const purged = await t.get(DataSource).query(`SELECT COUNT(*) AS n FROM "sms_opt_outs" WHERE "phone" = ${p(1)}`, [PURGED]);
      expect(Number(purged[0].n)).toBe(0);
    });

    it('callbacks that came before the SID was stored join their message once it is, the furthest applied', async () => {
      const early = 'SM' + randomHex(32);
      await statusCallback(early, 'sent').expect(200);
      expect((await statusCallback(early, 'delivered').expect(200)).body.outcome).toBe('unknown_message');
      const { id } = await sendOne();
      // The send's answer is stored now, with the SID Twilio had already called back about.
      await t
        .get(DataSource)
        .query(
          `UPDATE "sms_messages" SET "provider_sid" = ${kind === 'postgres' ? '$1' : '?'} WHERE "id" = ${kind === 'postgres' ? '$2' : '?'}`,
          [early, id],
        );
      expect(await t.get(DeliveryStatusService).adoptEarlyCallbacks(id, early)).toBe(2);
      const stored = await message(id);
      expect(stored.status).toBe('delivered');
      expect(stored.history.map((h: { status: string; applied: boolean }) => [h.status, h.applied])).toEqual([
        ['sent', false],
        ['delivered', true],
      ]);
      expect(await t.get(DeliveryStatusService).adoptEarlyCallbacks(id, early)).toBe(0);
    });

    it("a callback kept under its SID whose adoption was lost (an error, a crash) is adopted by Twilio's retry of it", async () => {
      const { id, sid } = await sendOne();
      // As left by a callback that committed its event with no message, then failed before joining it, the send
      // having looked for early callbacks before that commit.
      await t.get(DataSource).getRepository(SmsStatusEvent).insert({
        messageId: null,
        providerSid: sid,
        status: 'undelivered',
        errorCode: '30005',
        idempotencyToken: null,
        applied: false,
        receivedAt: new Date(),
      });
      const retry = await statusCallback(sid, 'undelivered', { ErrorCode: '30005' }).expect(200);
      expect(retry.body).toMatchObject({ outcome: 'duplicate' });
      const message = (await t.http.get(`/api/sms/messages/${id}`).set(auth(admin)).expect(200)).body;
      expect(message).toMatchObject({ status: 'undelivered', errorCode: '30005' });
      expect(await t.get(DataSource).getRepository(SmsStatusEvent).findBy({ providerSid: sid })).toEqual([
        expect.objectContaining({ messageId: id, status: 'undelivered', applied: true }),
      ]);
    });

    it('a final status called back while its send stores the SID is applied (PostgreSQL: the callback commits after the send looked for it); 21610 opts the number out; a repeat changes nothing', async () => {
      // Twilio calls back about the SID it has just given, before the send has stored it. On PostgreSQL the
      // callback's transaction (no message found, its event written) is held open while the send stores the SID and
      // looks for the callbacks waiting on it, which cannot see that uncommitted event. SQLite runs one writer at a
      // time: there the callback commits before the SID is stored, and the send adopts it.
      const postgres = kind === 'postgres';
      const dataSource = t.get(DataSource);
      const statuses = t.get(DeliveryStatusService);
      const provider = t.app.get<symbol, SmsProvider>(SMS_PROVIDER);
      const to = nextPhone();
      let sid: string | null = null;
      let callback: Promise<Awaited<ReturnType<typeof statusCallback>>> | null = null;
      const written = deferred<void>();
      const released = deferred<void>();
      const adopted = deferred<number>();
      const createQueryRunner = dataSource.createQueryRunner.bind(dataSource);
      const send = provider.send.bind(provider);
      const adopt = statuses.adoptEarlyCallbacks.bind(statuses);
      const spies = [
        // PostgreSQL: a runner per transaction; the callback's is held right after its INSERT, before its COMMIT.
        vi.spyOn(dataSource, 'createQueryRunner').mockImplementation((mode) => {
          const runner = createQueryRunner(mode);
          if (!postgres) return runner;
          const query = runner.query.bind(runner) as (sql: string, params?: unknown[], structured?: boolean) => Promise<unknown>;
          (runner as { query: typeof query }).query = async (sql, params, structured) => {
            const result = await query(sql, params, structured);
            if (sid && sql.startsWith('INSERT INTO "sms_status_events"') && params?.includes(sid)) {
              written.resolve();
              await released.promise;
            }
            return result;
          };
          return runner;
        }),
        // Twilio has the message: its failed callback comes before the send's answer is stored.
        vi.spyOn(provider, 'send').mockImplementation(async (outgoing) => {
          const receipt = await send(outgoing);
          if (outgoing.to !== to) return receipt;
          sid = receipt.sid;
          callback = statusCallback(sid, 'failed', { ErrorCode: '21610' }).then((res) => res);
          await (postgres ? written.promise : callback);
          return receipt;
        }),
        vi.spyOn(statuses, 'adoptEarlyCallbacks').mockImplementation(async (messageId, adoptedSid) => {
          const count = await adopt(messageId, adoptedSid);
          if (adoptedSid === sid) adopted.resolve(count);
          return count;
        }),
      ];
      let id: string;
      let called: Awaited<ReturnType<typeof statusCallback>>;
      try {
        const sending = t.http.post('/api/sms/send').set(auth(admin)).send({ to, message: 'Rappel : rendez-vous demain' });
        const sent = sending.then((res) => res);
        // The SID is stored and the send looked for early callbacks: on PostgreSQL it saw none, the callback's
        // event being still uncommitted; on SQLite it adopted the committed one.
        expect(await adopted.promise).toBe(postgres ? 0 : 1);
        released.resolve();
        const answer = await sent;
        expect(answer.status).toBe(201);
        id = answer.body.id as string;
        called = await callback!;
      } finally {
        released.resolve();
        for (const spy of spies) spy.mockRestore();
      }
      const stored = await message(id);
      expect(stored).toMatchObject({ status: 'failed', errorCode: '21610', errorExplanation: expect.stringMatching(/désabonné/) });
      expect(stored.history.map((h: { status: string; applied: boolean }) => [h.status, h.applied])).toEqual([['failed', true]]);
      expect(await optOutOf(to)).toMatchObject({ phone: to, source: 'twilio_21610' });
      // The callback's answer: on PostgreSQL it joined the message itself once committed.
      expect(called.status).toBe(200);
      expect(called.body).toEqual(
        postgres ? { outcome: 'applied', messageId: id, status: 'failed' } : { outcome: 'unknown_message', messageId: null, status: null },
      );
      // Twilio calling back again: found by the SID now, a duplicate that changes nothing.
      expect((await statusCallback(sid!, 'failed', { ErrorCode: '21610' }).expect(200)).body).toEqual({
        outcome: 'duplicate',
        messageId: id,
        status: 'failed',
      });
      expect((await message(id)).history).toHaveLength(1);
      expect(await optOutOf(to)).toMatchObject({ phone: to, source: 'twilio_21610' });
    });

    it("an appointment shows its SMS's delivery counts as callbacks come", async () => {
      const startsAt = new Date(Date.now() + 3 * 24 * 3600_000).toISOString();
      const created = await t.http
        .post('/api/appointments')
        .set(auth(admin))
        .send({ clientName: 'Jean Dupont', clientPhone: nextPhone(), startsAt })
        .expect(201);
      await t.http
        .post(`/api/appointments/${created.body.id}/confirm`)
        .set(auth(admin))
        .expect((r) => expect([200, 201]).toContain(r.status));
      let view = (await t.http.get(`/api/appointments/${created.body.id}`).set(auth(admin)).expect(200)).body;
      for (let i = 0; i < 100 && !view.messages[0]?.sid; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        view = (await t.http.get(`/api/appointments/${created.body.id}`).set(auth(admin)).expect(200)).body;
      }
      expect(view.delivery).toMatchObject({ total: 1, waiting: 1, delivered: 0 });
      await statusCallback(view.messages[0].sid, 'delivered').expect(200);
      view = (await t.http.get(`/api/appointments/${created.body.id}`).set(auth(admin)).expect(200)).body;
      expect(view.delivery).toEqual({ total: 1, delivered: 1, undelivered: 0, failed: 0, skipped: 0, cancelled: 0, waiting: 0 });
      expect(view.messages[0].status).toBe('delivered');
    });

    it('keeps a callback for an unknown SID without touching any message', async () => {
      const res = await statusCallback('SM' + '0'.repeat(32), 'delivered').expect(200);
      expect(res.body).toEqual({ outcome: 'unknown_message', messageId: null, status: null });
    });
  });

  describe('inbound SMS and keywords', () => {
    it.each([
      'STOP',
      'stop',
      '  Stop  ',
      'STOPALL',
      'unsubscribe',
      'CANCEL',
      'end',
      'Quit',
      'REVOKE',
      'optout',
      'ARRET',
      'Arrêt',
      'arrêt.',
      'STOP SMS',
      'stop  sms',
      'DESABONNER',
      'Désabonner',
      'DÉSABONNER',
    ])('%j opts the number out and confirms in TwiML', async (body) => {
      const phone = nextPhone();
      const res = await inbound(phone, body).expect(200);
      expect(res.headers['content-type']).toMatch(/^text\/xml/);
      expect(res.text).toBe(twiml('Vous ne recevrez plus de SMS de notre part. Répondez START pour vous réabonner.'));
      expect(await optOutOf(phone)).toMatchObject({ phone, source: 'keyword', reason: body.trim() });
    });

    it.each(['START', 'start', 'UNSTOP', 'yes', 'OUI', 'Oui !', 'DEMARRER', 'Démarrer'])('%j opts the number back in', async (body) => {
      const phone = nextPhone();
      await inbound(phone, 'ARRET').expect(200);
      expect(await optOutOf(phone)).not.toBeNull();
      const res = await inbound(phone, body).expect(200);
      expect(res.text).toBe(twiml('Vous recevrez à nouveau nos SMS. Répondez STOP pour vous désabonner.'));
      expect(await optOutOf(phone)).toBeNull();
    });

    it.each(['HELP', 'help', 'AIDE', 'Aide', 'INFO'])('%j answers the help text and changes nothing', async (body) => {
      const phone = nextPhone();
      const res = await inbound(phone, body).expect(200);
      expect(res.text).toBe(
        twiml('Messages de votre prise de rendez-vous. Répondez STOP pour ne plus recevoir de SMS, START pour les recevoir à nouveau.'),
      );
      expect(await optOutOf(phone)).toBeNull();
    });

    it('journals each TwiML reply as a send_sms by the system, once (concurrent replays by Twilio answer and write nothing more)', async () => {
      const phone = nextPhone();
      const replies = async () => {
        const res = await t.http.get('/api/audit?action=send_sms&limit=200').set(auth(admin)).expect(200);
        return res.body.items.filter(
          (e: { targetType: string; metadata: { to?: string } }) => e.targetType === 'sms_inbound' && e.metadata.to === phone,
        );
      };
      const params = { MessageSid: 'SM' + 'c'.repeat(32), From: phone, To: '+33700000000', Body: 'AIDE' };
      // Twilio repeating the webhook, the repeats arriving together: one reply, one entry.
      const answers = await Promise.all([1, 2, 3].map(() => signed(INBOUND_PATH, params).expect(200)));
      expect(answers.filter((a) => a.text !== EMPTY_TWIML)).toHaveLength(1);
      await inbound(phone, 'STOP').expect(200);
      // Not journaled: nothing answered (an ordinary message, or Twilio's Advanced Opt-Out replied itself).
      await inbound(phone, 'Merci, à demain').expect(200);
      await inbound(phone, 'HELP', { OptOutType: 'HELP' }).expect(200);
      const entries = await replies();
      expect(entries).toHaveLength(2);
      expect(entries.map((e: { metadata: { keyword: string } }) => e.metadata.keyword).sort()).toEqual(['help', 'opt_out']);
      const help = entries.find((e: { metadata: { keyword: string } }) => e.metadata.keyword === 'help');
      expect(help).toMatchObject({
        actorId: null,
        metadata: {
          to: phone,
          message: 'Messages de votre prise de rendez-vous. Répondez STOP pour ne plus recevoir de SMS, START pour les recevoir à nouveau.',
          replyTo: params.MessageSid,
          keyword: 'help',
          via: 'twiml',
          status: null,
          sid: null,
        },
      });
    });

    it("honours Twilio's OptOutType (Advanced Opt-Out) and answers empty TwiML, Twilio having replied", async () => {
      const phone = nextPhone();
      // Advanced Opt-Out can have custom keywords our lists do not know.
      const stop = await inbound(phone, 'Plus de SMS merci', { OptOutType: 'STOP' }).expect(200);
      expect(stop.text).toBe(EMPTY_TWIML);
      expect(await optOutOf(phone)).toMatchObject({ source: 'keyword' });
      // The opt-out list is never purged: the free text Twilio classified is not kept as the reason (it may hold a name
      // or a number), Twilio's OptOutType is.
      const other = nextPhone();
      await inbound(other, 'Stop svp, Jean Dupont 0612340401 rdv annulé', { OptOutType: 'STOP' }).expect(200);
      expect(await optOutOf(other)).toMatchObject({ source: 'keyword', reason: 'STOP' });
      const start = await inbound(phone, 'Reprendre', { OptOutType: 'START' }).expect(200);
      expect(start.text).toBe(EMPTY_TWIML);
      expect(await optOutOf(phone)).toBeNull();
      expect((await inbound(phone, 'HELP', { OptOutType: 'HELP' }).expect(200)).text).toBe(EMPTY_TWIML);
    });

    it('stores an ordinary reply, emits sms.received once, and answers empty TwiML; a replay by Twilio does nothing again', async () => {
      const phone = nextPhone();
      const received: SmsReceivedEvent[] = [];
      const listener = (e: SmsReceivedEvent) => received.push(e);
      t.get(EventEmitter2).on(SMS_RECEIVED, listener);
      try {
        const params = {
          MessageSid: 'SM' + 'b'.repeat(32),
          From: phone.replace('+33', '0'),
          To: '+33700000000',
          Body: 'stop, je serai en retard',
        };
        const first = await signed(INBOUND_PATH, params).expect(200);
        expect(first.text).toBe(EMPTY_TWIML);
        const again = await signed(INBOUND_PATH, params).expect(200);
        expect(again.text).toBe(EMPTY_TWIML);
        expect(received).toEqual([
          {
            id: expect.any(String),
            providerSid: params.MessageSid,
            from: phone,
            to: '+33700000000',
            body: 'stop, je serai en retard',
            keyword: null,
            receivedAt: expect.any(Date),
          },
        ]);
        expect(await optOutOf(phone)).toBeNull();
      } finally {
        t.get(EventEmitter2).off(SMS_RECEIVED, listener);
      }
    });
  });

  describe('opt-out list', () => {
    it('adds by hand (201, then 200 unchanged), lists, removes (200, then 404), each journaled; admin and superadmin only', async () => {
      const phone = nextPhone();
      const national = phone.replace('+33', '0');
      const created = await t.http
        .post('/api/sms/opt-outs')
        .set(auth(admin))
        .send({ phone: national, reason: 'Courrier du 12 mars' })
        .expect(201);
      expect(created.body).toMatchObject({
        phone,
        source: 'manual',
        reason: 'Courrier du 12 mars',
        created: true,
        optedOutAt: expect.any(String),
      });
      const again = await t.http.post('/api/sms/opt-outs').set(auth(admin)).send({ phone }).expect(200);
      expect(again.body).toMatchObject({ id: created.body.id, created: false, reason: 'Courrier du 12 mars' });

      const list = await t.http.get('/api/sms/opt-outs?limit=1').set(auth(admin)).expect(200);
      expect(list.body).toMatchObject({ page: 1, limit: 1, total: expect.any(Number), items: [expect.objectContaining({ phone })] });

      const user = await t.userWithRole(Role.User);
      await t.http.get('/api/sms/opt-outs').set(auth(user.token)).expect(403);
      await t.http
        .delete(`/api/sms/opt-outs/${encodeURIComponent(phone)}`)
        .set(auth(user.token))
        .expect(403);

      const removed = await t.http
        .delete(`/api/sms/opt-outs/${encodeURIComponent(national)}`)
        .set(auth(admin))
        .expect(200);
      expect(removed.body).toMatchObject({ id: created.body.id, phone, removed: true });
      const gone = await t.http
        .delete(`/api/sms/opt-outs/${encodeURIComponent(phone)}`)
        .set(auth(admin))
        .expect(404);
      expect(gone.body.message).toBe(`${phone} is not on the opt-out list`);
      expect(await optOutOf(phone)).toBeNull();

      const outs = await t.http.get('/api/audit?action=sms_opt_out&limit=50').set(auth(admin)).expect(200);
      expect(outs.body.items.filter((e: { metadata: { phone: string } }) => e.metadata.phone === phone)).toEqual([
        expect.objectContaining({ actorRole: 'admin', metadata: { phone, source: 'manual', reason: 'Courrier du 12 mars' } }),
      ]);
      const ins = await t.http.get('/api/audit?action=sms_opt_in&limit=50').set(auth(admin)).expect(200);
      expect(ins.body.items.filter((e: { metadata: { phone: string } }) => e.metadata.phone === phone)).toHaveLength(1);
    });

    it('refuses an invalid number or an unknown field with 400 naming it', async () => {
      const bad = await t.http.post('/api/sms/opt-outs').set(auth(admin)).send({ phone: '06 12' }).expect(400);
      expect(bad.body.details).toEqual([{ field: 'phone', problems: [expect.stringMatching(/^phone: The number /)] }]);
      const extra = await t.http.post('/api/sms/opt-outs').set(auth(admin)).send({ phone: nextPhone(), source: 'x' }).expect(400);
      expect(extra.body.details[0].field).toBe('source');
    });

    it('concurrent opt-outs of one number make one entry and one journal line', async () => {
      const phone = nextPhone();
      const answers = await Promise.all(Array.from({ length: 6 }, () => t.http.post('/api/sms/opt-outs').set(auth(admin)).send({ phone })));
      expect(answers.map((a) => a.status).sort()).toEqual([200, 200, 200, 200, 200, 201]);
      expect(new Set(answers.map((a) => a.body.id)).size).toBe(1);
      const outs = await t.http.get('/api/audit?action=sms_opt_out&limit=200').set(auth(admin)).expect(200);
      expect(outs.body.items.filter((e: { metadata: { phone: string } }) => e.metadata.phone === phone)).toHaveLength(1);
    });
  });
});

describeEachDatabase('Inbound keywords and replies as configured', (kind) => {
  const credentials = testTwilioCredentials();
  let t: TestApp;
  const inbound = (from: string, body: string) => {
    const params = { MessageSid: 'SM' + randomHex(32), From: from, To: '+33700000000', Body: body };
    const signature = twilio.getExpectedTwilioSignature(credentials.authToken, PUBLIC_BASE_URL + INBOUND_PATH, params);
    return t.http.post(INBOUND_PATH).type('form').set('X-Twilio-Signature', signature).send(params).expect(200);
  };

  beforeAll(async () => {
    t = await TestApp.start(kind, {
      ...twilioEnvironment({ baseUrl: 'http://127.0.0.1:9', accountSid: credentials.accountSid }, credentials.authToken),
      PUBLIC_BASE_URL,
      SMS_OPT_OUT_KEYWORDS: 'STOP,Résilier',
      SMS_OPT_IN_KEYWORDS: 'REVENIR',
      SMS_HELP_KEYWORDS: 'SOS',
      SMS_HELP_REPLY: 'Cabinet Martin, 01 23 45 67 89',
      SMS_OPT_OUT_REPLY: '',
    });
  });
  afterAll(() => t?.close());

  it('uses the configured keyword lists and texts; an empty text answers empty TwiML', async () => {
    const admin = await t.rootToken();
    const optOut = async (phone: string) =>
      (
        await t.http
          .get(`/api/sms/opt-outs?phone=${encodeURIComponent(phone)}`)
          .set('Authorization', `Bearer ${admin}`)
          .expect(200)
      ).body.items[0];
    expect((await inbound('+33611111111', 'résilier')).text).toBe(EMPTY_TWIML);
    expect(await optOut('+33611111111')).toMatchObject({ source: 'keyword' });
    // ARRET is not in this configuration's list: an ordinary reply.
    expect((await inbound('+33622222222', 'ARRET')).text).toBe(EMPTY_TWIML);
    expect(await optOut('+33622222222')).toBeUndefined();
    expect((await inbound('+33611111111', 'Revenir')).text).toBe(
      twiml('Vous recevrez à nouveau nos SMS. Répondez STOP pour vous désabonner.'),
    );
    expect(await optOut('+33611111111')).toBeUndefined();
    expect((await inbound('+33633333333', 'sos')).text).toBe(twiml('Cabinet Martin, 01 23 45 67 89'));
    expect((await inbound('+33633333333', 'HELP')).text).toBe(EMPTY_TWIML);
  });
});

function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

function randomHex(length: number): string {
  return Array.from({ length }, () => Math.floor(Math.random() * 16).toString(16)).join('');
}

describeEachDatabase('Status callbacks stranded by a crash', (kind) => {
  it('a callback kept under its SID alone, whose send stored the SID then stopped before adopting it, is adopted when the app starts again', async () => {
    const db = await createTestDatabase(kind);
    const messageId = randomUUID();
    const sid = `SM${randomUUID().replaceAll('-', '')}`;
    const before = await TestApp.start(kind, {}, db);
    try {
      // As a process that died between the two leaves it: Twilio's "delivered" came before the send's answer was
      // stored (kept under the SID alone, answered 200: never sent again), then the send stored its SID.
      const dataSource = before.get(DataSource);
      await dataSource.getRepository(SmsMessage).insert(
        Object.assign(new SmsMessage(), {
          id: messageId,
          to: '+33612345678',
          from: '+33700000000',
          body: 'Rappel : rendez-vous demain',
          kind: SmsKind.Single,
          provider: 'twilio',
          status: 'queued',
          providerSid: sid,
          segments: 1,
          encoding: 'GSM-7',
          attempts: 1,
          sentAt: new Date(),
          createdAt: new Date(),
          updatedAt: new Date(),
        }),
      );
      await dataSource.getRepository(SmsStatusEvent).insert({
        messageId: null,
        providerSid: sid,
        status: 'delivered',
        errorCode: null,
        idempotencyToken: null,
        applied: false,
        receivedAt: new Date(),
      });
    } finally {
      await before.close();
    }
    const t = await TestApp.start(kind, {}, db);
    try {
      const repository = t.get(DataSource).getRepository(SmsMessage);
      await vi.waitFor(async () => expect((await repository.findOneByOrFail({ id: messageId })).status).toBe('delivered'), {
        timeout: 10_000,
        interval: 50,
      });
      const events = await t.get(DataSource).getRepository(SmsStatusEvent).findBy({ providerSid: sid });
      expect(events.map((e) => [e.messageId, e.status, e.applied])).toEqual([[messageId, 'delivered', true]]);

      // The periodic passes look at the last hour only: a callback stranded longer ago waits for the next start.
      const older = `SM${randomUUID().replaceAll('-', '')}`;
      const olderMessage = randomUUID();
      await repository.insert(
        Object.assign(new SmsMessage(), {
          ...(await repository.findOneByOrFail({ id: messageId })),
          id: olderMessage,
          providerSid: older,
          status: 'queued',
        }),
      );
      await t
        .get(DataSource)
        .getRepository(SmsStatusEvent)
        .insert({
          messageId: null,
          providerSid: older,
          status: 'delivered',
          errorCode: null,
          idempotencyToken: null,
          applied: false,
          receivedAt: new Date(Date.now() - 2 * 3_600_000),
        });
      const sweeps = t.get(DeliveryStatusService);
      expect(await sweeps.adoptStranded(new Date(Date.now() - 3_600_000))).toBe(0);
      expect(await sweeps.adoptStranded()).toBe(1);
      expect((await repository.findOneByOrFail({ id: olderMessage })).status).toBe('delivered');

      // More than one read's worth (100 SIDs): a pass goes on until none is left.
      const template = await repository.findOneByOrFail({ id: messageId });
      const many = Array.from({ length: 150 }, () => ({ id: randomUUID(), sid: `SM${randomUUID().replaceAll('-', '')}` }));
      for (const { id, sid: manySid } of many) {
        await repository.insert(Object.assign(new SmsMessage(), { ...template, id, providerSid: manySid, status: 'queued' }));
        await t.get(DataSource).getRepository(SmsStatusEvent).insert({
          messageId: null,
          providerSid: manySid,
          status: 'sent',
          errorCode: null,
          idempotencyToken: null,
          applied: false,
          receivedAt: new Date(),
        });
      }
      expect(await sweeps.adoptStranded()).toBe(150);
      const stored = await repository.findBy({ id: In(many.map((m) => m.id)) });
      expect(stored.filter((m) => m.status === 'sent')).toHaveLength(150);
    } finally {
      await t.close();
      await db.drop();
    }
  });
});
