import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { DataSource, In } from 'typeorm';
import { inject } from 'vitest';
import { AuditAction } from '../src/audit/audit-action.enum.js';
import { AuditLog } from '../src/audit/audit-log.entity.js';
import { DISPATCH_QUEUE, type DispatchQueue } from '../src/sms/dispatch/dispatch-queue.js';
import { SmsOutbox } from '../src/sms/dispatch/sms-outbox.js';
import { SmsKind, SmsMessage } from '../src/sms/sms-message.entity.js';
import { createTwilioClient } from '../src/sms/twilio/twilio-client.factory.js';
import { describeEachDatabase } from './support/databases.js';
import { startDispatchApp, testQueue, waitForMessage, type DispatchApp, type DispatchMode } from './support/dispatch.js';
import type { TestApp } from './support/test-app.js';
import { testTwilioCredentials, type TwilioStandIn } from './support/twilio-stand-in.js';

const redisUrl = inject('redisUrl');
const MODES: DispatchMode[] = ['inline', 'bullmq'];
const FROM = '+33700000000';
/** Settled: Twilio has it (its own status, `queued` included), or ended here. */
const ended = (m: Record<string, unknown>) => !!m.providerSid || (m.status !== 'queued' && m.status !== 'sending');
let counter = 0;
const nextPhone = () => `+3361${String(3_000_000 + ++counter * 71).padStart(7, '0')}`;

/**
 * A message whose last attempt's outcome is unknown (the call timed out, the connection was lost, the worker died)
 * may already be at Twilio. Cancelling it (alone, or with its batch, or its batch cancelled while that attempt was
 * in flight) must not mark it cancelled blind: it is never sent again, but looked up once more, and ends `sent`
 * with Twilio's SID when Twilio had it, `cancelled` when not. Rows are set up through the database, waiting an hour
 * for their look-up, so that nothing depends on the machine's speed; then made due.
 */
describeEachDatabase('Cancelling a message whose outcome is unknown', (kind) => {
  describe.each(MODES)('%s', (mode) => {
    const skip = mode === 'bullmq' && !redisUrl;
    let setup: DispatchApp | undefined;
    let standIn: TwilioStandIn;
    let t: TestApp;
    let root: string;
    const auth = () => ({ Authorization: `Bearer ${root}` });
    const messages = () => t.get(DataSource).getRepository(SmsMessage);
    const posts = () => standIn.requests.filter((r) => r.method === 'POST').length;
    const lookUps = (to: string) => standIn.requests.filter((r) => r.method === 'GET' && r.query.To === to).length;
    const inAnHour = () => new Date(Date.now() + 3_600_000);
    /** Already at Twilio (as an attempt that timed out after Twilio took it would have left it). */
    const atTwilio = (to: string, body: string) =>
      createTwilioClient({ ...testTwilioCredentials(), baseUrl: standIn.baseUrl }).messages.create({ to, from: FROM, body });
    /** What the dispatcher leaves after an attempt whose outcome is unknown: queued, its code kept, looked up later. */
    const unknownOutcome = { status: 'queued', errorCode: 'TIMEOUT', errorMessage: 'Twilio did not answer in time', attempts: 1 };
    const timedOutSingle = async (to: string, body: string): Promise<SmsMessage> => {
      const row = Object.assign(new SmsMessage(), {
        id: randomUUID(),
        to,
        from: FROM,
        body,
        kind: SmsKind.Single,
        provider: 'twilio',
        segments: 1,
        encoding: 'GSM-7',
        ...unknownOutcome,
        notBefore: inAnHour(),
        lastAttemptAt: new Date(Date.now() - 4000),
        firstAttemptAt: new Date(Date.now() - 4000),
        createdAt: new Date(Date.now() - 5000),
        updatedAt: new Date(Date.now() - 4000),
      });
      await messages().insert(row);
      return row;
    };
    /** Makes rows due now, as time passing would, and hands them to the dispatcher (BullMQ: a delayed job promoted). */
    const dueNow = async (ids: string[]) => {
      await messages().update({ id: In(ids) }, { notBefore: new Date() });
      if (mode === 'bullmq') {
        const connection = new Redis(redisUrl!, { maxRetriesPerRequest: null });
        const queue = testQueue(setup!.queueName, connection);
        try {
          for (const id of ids) {
            const job = await queue.getJob(id);
            if (job && (await job.isDelayed())) await job.promote();
          }
        } finally {
          await queue.close();
          await connection.quit();
        }
      }
      t.app.get<symbol, DispatchQueue>(DISPATCH_QUEUE).notify(ids.map((id) => ({ id, notBefore: null })));
    };
    const cancellations = (targetId: string) =>
      t.get(DataSource).getRepository(AuditLog).findBy({ action: AuditAction.SmsCancelled, targetId });
    /** A cancelled batch is no longer `running` at once: it ends (finishedAt) with its last message. */
    const batchEnded = async (batchId: string) => {
      const until = Date.now() + 20_000;
      for (;;) {
        const res = await t.http.get(`/api/sms/bulk/${batchId}`).set(auth()).expect(200);
        if (res.body.finishedAt) return res.body;
        if (Date.now() > until) throw new Error(`batch not ended: ${JSON.stringify(res.body)}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    };
    const bulk = async (n: number) => {
      const recipients = Array.from({ length: n }, () => ({ phone: nextPhone() }));
      const res = await t.http
        .post('/api/sms/bulk')
        .set(auth())
        .send({ recipients, message: 'Votre colis arrive demain', sendAt: inAnHour().toISOString() })
        .expect(202);
      const rows = await messages().find({ where: { batchId: res.body.batchId }, order: { to: 'ASC' } });
      return { batchId: res.body.batchId as string, rows };
    };

    beforeAll(async () => {
      if (skip) return;
      setup = await startDispatchApp(kind, { mode, env: { SMS_POLL_INTERVAL_MS: '100', SMS_MAX_ATTEMPTS: '3' } });
      ({ standIn, t } = setup);
      root = await t.rootToken();
    });
    afterAll(() => setup?.close());

    it.skipIf(skip)(
      'a single send Twilio had: 202 at the cancel, still queued; then looked up and stored sent, not sent again',
      async () => {
        const to = nextPhone();
        const went = await atTwilio(to, 'Bonjour, à demain');
        const row = await timedOutSingle(to, 'Bonjour, à demain');
        const before = posts();

        const res = await t.http.post(`/api/sms/messages/${row.id}/cancel`).set(auth()).expect(202);
        expect(res.body).toMatchObject({ id: row.id, status: 'queued', errorCode: 'TIMEOUT', cancelRequestedAt: expect.any(String) });
        // Asked again: the same answer, journaled once.
        const again = await t.http.post(`/api/sms/messages/${row.id}/cancel`).set(auth()).expect(202);
        expect(again.body.cancelRequestedAt).toBe(res.body.cancelRequestedAt);
        // And while a worker is looking it up (claimed: `sending`, under its lease).
        await messages().update(row.id, { status: 'sending', leaseUntil: inAnHour() });
        const during = await t.http.post(`/api/sms/messages/${row.id}/cancel`).set(auth()).expect(202);
        expect(during.body).toMatchObject({ status: 'sending', cancelRequestedAt: res.body.cancelRequestedAt });
        await messages().update(row.id, { status: 'queued', leaseUntil: null });
        expect(await cancellations(row.id)).toHaveLength(1);

        await dueNow([row.id]);
        const final = await waitForMessage(t, root, row.id, ended);
        // Stored with the status the look-up saw (Twilio has sent it by now), not the one its creation answered.
        expect(final).toMatchObject({ providerSid: went.sid, status: 'sent', cancelRequestedAt: res.body.cancelRequestedAt });
        expect(lookUps(to)).toBeGreaterThanOrEqual(1);
        expect(posts()).toBe(before);
      },
    );

    it.skipIf(skip)('a single send Twilio never had: looked up, then stored cancelled (journaled so), never sent', async () => {
      const to = nextPhone();
      const row = await timedOutSingle(to, 'Bonjour');
      const before = posts();
      await t.http.post(`/api/sms/messages/${row.id}/cancel`).set(auth()).expect(202);
      await dueNow([row.id]);
      const final = await waitForMessage(t, root, row.id, ended);
      expect(final).toMatchObject({ status: 'cancelled', providerSid: null, errorCode: 'TIMEOUT' });
      expect(final.errorMessage).toMatch(/cancelled, not at Twilio/);
      expect(lookUps(to)).toBeGreaterThanOrEqual(1);
      expect(posts()).toBe(before);
      expect(standIn.messages.filter((m) => m.to === to)).toHaveLength(0);
      // Its own final journal entry says cancelled; a later cancel is refused as for any cancelled message.
      const entries = await t.get(DataSource).getRepository(AuditLog).findBy({ action: AuditAction.SendSms, targetId: row.id });
      expect(entries.map((e) => e.metadata?.status)).toEqual(['cancelled']);
      const refused = await t.http.post(`/api/sms/messages/${row.id}/cancel`).set(auth()).expect(409);
      expect(refused.body.currentStatus).toBe('cancelled');
    });

    it.skipIf(skip)(
      'a batch cancelled with such messages: the rest cancelled at once, those looked up, then the batch ends cancelled',
      async () => {
        const { batchId, rows } = await bulk(3);
        const [went, never, waiting] = rows;
        const sid = (await atTwilio(went.to, went.body)).sid;
        await messages().update(
          { id: In([went.id, never.id]) },
          { ...unknownOutcome, lastAttemptAt: new Date(), firstAttemptAt: new Date() },
        );
        const before = posts();

        const res = await t.http.post(`/api/sms/bulk/${batchId}/cancel`).set(auth()).expect(200);
        expect(res.body).toMatchObject({ status: 'cancelled', counts: { cancelled: 1, queued: 2 }, finishedAt: null });
        expect((await cancellations(batchId)).map((e) => e.metadata)).toEqual([
          expect.objectContaining({ batchId, cancelled: 1, lookingUp: 2 }),
        ]);
        expect(await messages().findOneByOrFail({ id: waiting.id })).toMatchObject({ status: 'cancelled', cancelRequestedAt: null });

        await dueNow([went.id, never.id]);
        const view = await batchEnded(batchId);
        expect(view).toMatchObject({ status: 'cancelled', counts: { sent: 1, cancelled: 2, queued: 0, sending: 0 } });
        expect(await messages().findOneByOrFail({ id: went.id })).toMatchObject({ providerSid: sid });
        expect(await messages().findOneByOrFail({ id: never.id })).toMatchObject({ status: 'cancelled', providerSid: null });
        expect(posts()).toBe(before);
      },
    );

    it.skipIf(skip)(
      'a batch cancelled while a worker was sending one of its messages, and that worker died: looked up, then cancelled, not sent',
      async () => {
        const { batchId, rows } = await bulk(2);
        const [dead, waiting] = rows;
        // Claimed by a worker that is alive when the batch is cancelled (its lease an hour ahead)…
        await messages().update(dead.id, { status: 'sending', attempts: 1, leaseUntil: inAnHour(), lastAttemptAt: new Date() });
        const res = await t.http.post(`/api/sms/bulk/${batchId}/cancel`).set(auth()).expect(200);
        expect(res.body).toMatchObject({ counts: { cancelled: 1, sending: 1 }, finishedAt: null });
        expect(await messages().findOneByOrFail({ id: waiting.id })).toMatchObject({ status: 'cancelled' });
        // …then dies: no settlement ran; its lease runs out and the row is taken up again (LEASE_EXPIRED).
        const before = posts();
        await messages().update(dead.id, { leaseUntil: new Date(Date.now() - 1000) });
        await dueNow([dead.id]);
        const view = await batchEnded(batchId);
        expect(view).toMatchObject({ status: 'cancelled', counts: { cancelled: 2, sent: 0 } });
        expect(await messages().findOneByOrFail({ id: dead.id })).toMatchObject({ status: 'cancelled', errorCode: 'LEASE_EXPIRED' });
        expect(lookUps(dead.to)).toBeGreaterThanOrEqual(1);
        expect(posts()).toBe(before);
      },
    );

    it.skipIf(skip)(
      'an attempt in flight when its batch is cancelled, which then times out: looked up, not cancelled blind; one Twilio refused is',
      async () => {
        const { batchId, rows } = await bulk(3);
        const [timedOut, refused, waiting] = rows;
        const lease = new Date(Date.now() + 60_000);
        await messages().update({ id: In([timedOut.id, refused.id]) }, { status: 'sending', attempts: 1, leaseUntil: lease });
        await t.http.post(`/api/sms/bulk/${batchId}/cancel`).set(auth()).expect(200);
        expect(await messages().findOneByOrFail({ id: waiting.id })).toMatchObject({ status: 'cancelled' });

        const outbox = t.get(SmsOutbox);
        const inFlight = (m: SmsMessage) => Object.assign(new SmsMessage(), { ...m, status: 'sending', attempts: 1 });
        // The attempts end: one times out (it may be at Twilio), the other is refused with a 500 (it is not).
        const retry = (errorCode: string) => ({ kind: 'retry' as const, notBefore: inAnHour(), errorCode, errorMessage: errorCode });
        expect(await outbox.settle(inFlight(timedOut), 1, retry('TIMEOUT'))).toEqual({ applied: true });
        expect(await outbox.settle(inFlight(refused), 1, retry('20500'))).toMatchObject({ applied: true, cancelled: true });
        expect(await messages().findOneByOrFail({ id: timedOut.id })).toMatchObject({
          status: 'queued',
          errorCode: 'TIMEOUT',
          cancelRequestedAt: expect.any(Date),
        });
        expect(await messages().findOneByOrFail({ id: refused.id })).toMatchObject({ status: 'cancelled', cancelRequestedAt: null });

        const before = posts();
        await dueNow([timedOut.id]);
        const view = await batchEnded(batchId);
        expect(view).toMatchObject({ status: 'cancelled', counts: { cancelled: 3, sent: 0 } });
        expect(lookUps(timedOut.to)).toBeGreaterThanOrEqual(1);
        expect(posts()).toBe(before);
      },
    );

    it.skipIf(skip)(
      'cancels racing the look-ups: a cancel accepted is never followed by a send, one refused (409) is, and Twilio’s SID is always kept',
      async () => {
        // Twilio answers after 100 ms: each look-up (and re-send) keeps its row claimed long enough for cancels to land
        // before, during and after it. Half the rows are at Twilio, half are not.
        standIn.setBehaviour({ delayMs: 100 });
        const rows: { row: SmsMessage; sid: string | null }[] = [];
        for (let i = 0; i < 12; i++) {
          const to = nextPhone();
          const sid = i % 2 ? (await atTwilio(to, `Rappel ${i}`)).sid : null;
          rows.push({ row: await timedOutSingle(to, `Rappel ${i}`), sid });
        }
        const before = new Map(
          rows.map(({ row }) => [row.id, standIn.requests.filter((r) => r.method === 'POST' && r.form.To === row.to).length]),
        );
        const ids = rows.map(({ row }) => row.id);

        const [, answers] = await Promise.all([
          new Promise((resolve) => setTimeout(resolve, 20)).then(() => dueNow(ids)),
          Promise.all(
            rows.map(async ({ row }, i) => {
              await new Promise((resolve) => setTimeout(resolve, i * 10));
              return (await t.http.post(`/api/sms/messages/${row.id}/cancel`).set(auth())).status;
            }),
          ),
        ]);
        for (const { row } of rows) await waitForMessage(t, root, row.id, ended);
        standIn.setBehaviour({});

        console.log(`[cancel-race] ${kind} ${mode}: cancels answered ${answers.join(', ')}`);
        expect(
          answers.every((status) => [200, 202, 409].includes(status)),
          `answers ${answers.join(', ')}`,
        ).toBe(true);
        for (const [i, { row, sid }] of rows.entries()) {
          const final = await messages().findOneByOrFail({ id: row.id });
          const sends = standIn.requests.filter((r) => r.method === 'POST' && r.form.To === row.to).length - before.get(row.id)!;
          const accepted = answers[i] !== 409;
          const what = `${row.id} (${sid ? 'at Twilio' : 'not at Twilio'}, cancel ${answers[i]}): ${final.status}, ${sends} send(s)`;
          if (sid) {
            // At Twilio: adopted whatever the cancel answered, never sent again.
            expect(final.providerSid, what).toBe(sid);
            expect(sends, what).toBe(0);
          } else if (accepted) {
            expect(final.status, what).toBe('cancelled');
            expect(sends, what).toBe(0);
          } else {
            // Refused because its look-up had already claimed it: that attempt went on and sent it.
            expect(final.providerSid, what).not.toBeNull();
            expect(sends, what).toBe(1);
          }
          expect(await cancellations(row.id), what).toHaveLength(accepted ? 1 : 0);
        }
      },
      60_000,
    );
  });
});
