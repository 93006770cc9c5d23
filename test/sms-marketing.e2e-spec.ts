import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { DateTime } from 'luxon';
import { DataSource, In, IsNull } from 'typeorm';
import { inject } from 'vitest';
import { Clock } from '../src/common/clock.js';
import { DISPATCH_QUEUE, type DispatchQueue } from '../src/sms/dispatch/dispatch-queue.js';
import { PublicHolidays } from '../src/sms/marketing/marketing-rules.js';
import { SmsMessage } from '../src/sms/sms-message.entity.js';
import { Role } from '../src/users/role.enum.js';
import { describeEachDatabase } from './support/databases.js';
import { startDispatchApp, testQueue, waitForBatch, type DispatchApp, type DispatchMode } from './support/dispatch.js';
import type { TestApp } from './support/test-app.js';
import type { TwilioStandIn } from './support/twilio-stand-in.js';

const redisUrl = inject('redisUrl');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const holidays = new PublicHolidays('FR');

/** The first day at least two days ahead, in Paris, that `fits` (the tests' Clock runs ahead of the real time). */
function nextDay(fits: (day: DateTime) => boolean): DateTime {
  let day = DateTime.now().setZone('Europe/Paris').plus({ days: 2 }).startOf('day');
  while (!fits(day)) day = day.plus({ days: 1 });
  return day;
}

/** A Saturday whose Monday is an ordinary day (not Easter or Whit Monday…). */
const nextSaturday = () => nextDay((d) => d.weekday === 6 && !holidays.on(d.plus({ days: 2 })));
/** A weekday (Monday to Friday) that is open, and so is the next day. */
const nextOpenWeekdayBeforeOpenDay = () => nextDay((d) => d.weekday <= 5 && !holidays.on(d) && !holidays.on(d.plus({ days: 1 })));

const iso = (at: DateTime) => at.toUTC().toISO();

describeEachDatabase('Marketing batches and the French rules', (kind) => {
  describe.each<DispatchMode>(['inline', 'bullmq'])('%s', (mode) => {
    const skip = mode === 'bullmq' && !redisUrl;
    let setup: DispatchApp | undefined;
    let standIn: TwilioStandIn;
    let t: TestApp;
    let admin: string;
    let redis: Redis | null = null;
    let queue: Queue | null = null;
    const auth = () => ({ Authorization: `Bearer ${admin}` });
    const posts = () => standIn.requests.filter((r) => r.method === 'POST');
    const setClock = (at: DateTime) => vi.spyOn(t.get(Clock), 'now').mockReturnValue(at.toJSDate());

    beforeAll(async () => {
      if (skip) return;
      setup = await startDispatchApp(kind, {
        mode,
        env: {
          SMS_MARKETING_STOP_MENTION: 'STOP au 36111',
          SMS_POLL_INTERVAL_MS: '100',
          // One message at a time: the window can close between two messages of a batch, deterministically.
          SMS_MAX_CONCURRENCY: '1',
        },
      });
      ({ standIn, t } = setup);
      admin = (await t.userWithRole(Role.Admin)).token;
      if (mode === 'bullmq') {
        redis = new Redis(redisUrl!, { maxRetriesPerRequest: null });
        queue = testQueue(setup.queueName, redis);
      }
    });
    afterAll(async () => {
      vi.restoreAllMocks();
      await queue?.close();
      await redis?.quit();
      await setup?.close();
    });
    beforeEach(() => standIn?.reset());
    afterEach(() => vi.restoreAllMocks());

    /**
     * The outbox's `notBefore` runs on the real time, the marketing window on the Clock (ahead of it here).
     * Once the Clock is moved, this makes the batch's waiting rows due now, as the days passing would (with
     * BullMQ, their delayed jobs are promoted), and waits until the dispatcher has looked at each of them:
     * sent, or held again (its notBefore moved back to the next opening).
     */
    async function dueNow(batchId: string): Promise<void> {
      const repository = t.get(DataSource).getRepository(SmsMessage);
      const waiting = await repository.findBy({ batchId, status: 'queued', providerSid: IsNull() });
      const now = new Date();
      await repository.update({ id: In(waiting.map((m) => m.id)) }, { notBefore: now });
      await queue?.promoteJobs();
      t.app.get<symbol, DispatchQueue>(DISPATCH_QUEUE).notify(waiting.map((m) => ({ id: m.id, notBefore: null })));
      await vi.waitFor(
        async () => {
          const rows = await repository.findBy({ id: In(waiting.map((m) => m.id)) });
          for (const row of rows) {
            // Claimed but not yet sent or held: not looked at yet (the Clock may be moved before it is).
            expect(row.status, row.id).not.toBe('sending');
            // Still waiting (no SID: Twilio's own `queued` is a sent message) means held again.
            if (row.status === 'queued' && !row.providerSid) expect(row.notBefore!.getTime(), row.id).toBeGreaterThan(now.getTime());
          }
        },
        { timeout: 15_000, interval: 50 },
      );
    }

    const messages = async (batchId: string) =>
      (await t.http.get(`/api/sms/bulk/${batchId}/messages`).set(auth()).expect(200)).body.items as Record<string, unknown>[];

    describe.skipIf(skip)(skip ? 'skipped: no Redis in this run' : 'rules', () => {
      it('a marketing batch accepted at 21:00 on a Saturday leaves on Monday 08:00, carrying the mention (counted in its segments); not on Sunday', async () => {
        const saturday = nextSaturday().set({ hour: 21 });
        const sunday = saturday.plus({ days: 1 }).set({ hour: 12 });
        const monday = saturday.plus({ days: 2 }).set({ hour: 8 });
        setClock(saturday);
        const message = 'Soldes : -20 % ce lundi'.padEnd(150, '.');
        const res = await t.http
          .post('/api/sms/bulk')
          .set(auth())
          .send({ category: 'marketing', recipients: [{ phone: '0612345678' }, { phone: '0687654321' }], message })
          .expect(202);
        const { batchId } = res.body;
        expect(res.body).toMatchObject({ category: 'marketing', queued: 2, notBefore: iso(monday), stopMentionAppended: true });
        // 150 characters + "\nSTOP au 36111" go past 160: two segments each.
        expect(res.body.segments).toBe(4);
        const batch = await t.http.get(`/api/sms/bulk/${batchId}`).set(auth()).expect(200);
        expect(batch.body).toMatchObject({ notBefore: iso(monday), nextSendAt: iso(monday) });
        for (const m of await messages(batchId))
          expect(m).toMatchObject({ body: `${message}\nSTOP au 36111`, category: 'marketing', status: 'queued' });
        await sleep(500);
        expect(posts()).toHaveLength(0);

        // Sunday noon: even claimed by the dispatcher, they do not leave; held until Monday 08:00, no attempt spent.
        setClock(sunday);
        await dueNow(batchId);
        expect(posts()).toHaveLength(0);
        for (const m of await messages(batchId))
          expect(m).toMatchObject({
            status: 'queued',
            notBefore: iso(monday),
            attempts: 0,
            lastAttemptAt: null,
            firstAttemptAt: null,
            providerSid: null,
          });
        const held = await t.http.get(`/api/sms/bulk/${batchId}`).set(auth()).expect(200);
        expect(held.body).toMatchObject({ status: 'running', startedAt: null, nextSendAt: iso(monday), counts: { queued: 2 } });

        // Monday 08:00: they leave, with the mention.
        setClock(monday);
        await dueNow(batchId);
        const done = await waitForBatch(t, admin, batchId);
        expect(done).toMatchObject({ status: 'completed', counts: { sent: 2 }, nextSendAt: null });
        expect(posts().map((r) => r.form.Body)).toEqual([`${message}\nSTOP au 36111`, `${message}\nSTOP au 36111`]);
        expect(
          posts()
            .map((r) => r.form.To)
            .sort(),
        ).toEqual(['+33612345678', '+33687654321']);
        for (const m of await messages(batchId)) expect(m).toMatchObject({ attempts: 1 });
      });

      it('a marketing batch still sending at 20:00 stops there: the rest is held until 08:00 the next day, then sent', async () => {
        const friday = nextOpenWeekdayBeforeOpenDay();
        const open = friday.set({ hour: 19, minute: 59 });
        const closed = friday.set({ hour: 20, minute: 0, second: 30 });
        const nextOpening = friday.plus({ days: 1 }).set({ hour: 8 });
        // The window closes once two messages have reached Twilio.
        vi.spyOn(t.get(Clock), 'now').mockImplementation(() => (posts().length >= 2 ? closed : open).toJSDate());
        const recipients = ['0611000001', '0611000002', '0611000003', '0611000004'].map((phone) => ({ phone }));
        const res = await t.http
          .post('/api/sms/bulk')
          .set(auth())
          .send({ category: 'marketing', recipients, message: 'Promo' })
          .expect(202);
        const { batchId } = res.body;
        expect(res.body.notBefore).toBeNull();
        await vi.waitFor(
          async () => {
            const view = (await t.http.get(`/api/sms/bulk/${batchId}`).set(auth()).expect(200)).body;
            expect(view).toMatchObject({ counts: { sent: 2, queued: 2, sending: 0 }, nextSendAt: iso(nextOpening) });
          },
          { timeout: 15_000, interval: 50 },
        );
        await sleep(300);
        expect(posts()).toHaveLength(2);
        const held = (await messages(batchId)).filter((m) => m.providerSid === null);
        expect(held).toHaveLength(2);
        for (const m of held) expect(m).toMatchObject({ notBefore: iso(nextOpening), attempts: 0, providerSid: null });
        const view = (await t.http.get(`/api/sms/bulk/${batchId}`).set(auth()).expect(200)).body;
        expect(view).toMatchObject({ status: 'running', startedAt: expect.any(String) });

        // Still closed at 07:59 the next morning (claimed, held again); gone at 08:00.
        setClock(nextOpening.minus({ minutes: 1 }));
        await dueNow(batchId);
        expect(posts()).toHaveLength(2);
        setClock(nextOpening);
        await dueNow(batchId);
        expect(await waitForBatch(t, admin, batchId)).toMatchObject({ status: 'completed', counts: { sent: 4 } });
        expect(posts().map((r) => r.form.Body)).toEqual(Array(4).fill('Promo\nSTOP au 36111'));
        expect(new Set(posts().map((r) => r.form.To)).size).toBe(4);
        // Its own waits (15 s, two dueNow of 15 s, the batch's end) bound it, each with its own message; the default
        // 30 s would cut a slow run short with a bare timeout that does not say which step was slow.
      }, 90_000);

      it('holds each recipient to the hours of its own zone: at 08:00 in Paris a Martinique number (03:00 there) waits for 08:00 in Martinique', async () => {
        const day = nextOpenWeekdayBeforeOpenDay();
        const parisOpening = day.set({ hour: 8 });
        const martiniqueOpening = DateTime.fromObject(
          { year: day.year, month: day.month, day: day.day, hour: 8 },
          { zone: 'America/Martinique' },
        );
        expect(martiniqueOpening > parisOpening).toBe(true);
        setClock(parisOpening);
        const res = await t.http
          .post('/api/sms/bulk')
          .set(auth())
          .send({ category: 'marketing', recipients: [{ phone: '0612345678' }, { phone: '0696123456' }], message: 'Promo' })
          .expect(202);
        const { batchId } = res.body;
        // The batch's own time is DEFAULT_TIMEZONE's (open now); the Martinique message is held when claimed.
        expect(res.body.notBefore).toBeNull();
        await vi.waitFor(
          async () => {
            const rows = await messages(batchId);
            // Taken by Twilio (its SID; Twilio's own status may still be queued).
            expect(rows.find((m) => m.to === '+33612345678')).toMatchObject({ providerSid: expect.any(String) });
            expect(rows.find((m) => m.to === '+596696123456')).toMatchObject({
              status: 'queued',
              notBefore: iso(martiniqueOpening),
              attempts: 0,
              providerSid: null,
            });
          },
          { timeout: 15_000, interval: 50 },
        );
        expect(posts().map((r) => r.form.To)).toEqual(['+33612345678']);

        // 07:59 in Martinique: still held; 08:00: it leaves.
        setClock(martiniqueOpening.minus({ minutes: 1 }));
        await dueNow(batchId);
        expect(posts()).toHaveLength(1);
        setClock(martiniqueOpening);
        await dueNow(batchId);
        expect(await waitForBatch(t, admin, batchId)).toMatchObject({ status: 'completed', counts: { sent: 2 } });
        expect(posts().map((r) => r.form.To)).toEqual(['+33612345678', '+596696123456']);
      }, 60_000);

      it('holds a number of a country of several zones until the hours are open in all of them: French Polynesia (Tahiti, Marquesas, Gambier), not Paris', async () => {
        const day = nextOpenWeekdayBeforeOpenDay();
        // 10:00 in Paris: 22:00 or 23:00 the evening before in Tahiti. Tahiti (UTC-10) opens last of the three zones.
        setClock(day.set({ hour: 10 }));
        const tahitiOpening = DateTime.fromObject({ year: day.year, month: day.month, day: day.day, hour: 8 }, { zone: 'Pacific/Tahiti' });
        const res = await t.http
          .post('/api/sms/bulk')
          .set(auth())
          .send({ category: 'marketing', recipients: [{ phone: '0612345678' }, { phone: '+68987123456' }], message: 'Promo' })
          .expect(202);
        const { batchId } = res.body;
        await vi.waitFor(
          async () => {
            const rows = await messages(batchId);
            expect(rows.find((m) => m.to === '+33612345678')).toMatchObject({ providerSid: expect.any(String) });
            expect(rows.find((m) => m.to === '+68987123456')).toMatchObject({
              status: 'queued',
              notBefore: iso(tahitiOpening),
              attempts: 0,
              providerSid: null,
            });
          },
          { timeout: 15_000, interval: 50 },
        );
        // 07:59 in Tahiti (already 08:29 in the Marquesas, 08:59 in the Gambier): still held; 08:00 there: it leaves.
        setClock(tahitiOpening.minus({ minutes: 1 }));
        await dueNow(batchId);
        expect(posts().map((r) => r.form.To)).toEqual(['+33612345678']);
        setClock(tahitiOpening);
        await dueNow(batchId);
        expect(await waitForBatch(t, admin, batchId)).toMatchObject({ status: 'completed', counts: { sent: 2 } });
        expect(posts().map((r) => r.form.To)).toEqual(['+33612345678', '+68987123456']);
      }, 60_000);

      it('a transactional batch at the same hour is not held, and carries no mention', async () => {
        setClock(nextSaturday().set({ hour: 21 }));
        const res = await t.http
          .post('/api/sms/bulk')
          .set(auth())
          .send({ recipients: [{ phone: '0611111111' }], message: 'Le cabinet sera fermé lundi' })
          .expect(202);
        expect(res.body).toMatchObject({ category: 'transactional', notBefore: null, stopMentionAppended: false });
        await waitForBatch(t, admin, res.body.batchId);
        expect(posts().map((r) => r.form?.Body)).toEqual(['Le cabinet sera fermé lundi']);
        // The listing filters on the category as the statistics do (a marketing batch beside it, held until Monday).
        const held = await t.http
          .post('/api/sms/bulk')
          .set(auth())
          .send({ category: 'marketing', recipients: [{ phone: '0611111112' }], message: 'Promo' })
          .expect(202);
        const listed = async (category: string) =>
          (await t.http.get(`/api/sms/messages?category=${category}&limit=200`).set(auth()).expect(200)).body.items as {
            category: string;
            to: string;
          }[];
        const transactional = await listed('transactional');
        expect(transactional.map((m) => m.to)).toContain('+33611111111');
        expect(transactional.every((m) => m.category === 'transactional')).toBe(true);
        const marketing = await listed('marketing');
        expect(marketing.map((m) => m.to)).toContain('+33611111112');
        expect(marketing.map((m) => m.to)).not.toContain('+33611111111');
        expect(transactional.map((m) => m.to)).not.toContain('+33611111112');
        expect(marketing.every((m) => m.category === 'marketing')).toBe(true);
        await t.http.get('/api/sms/messages?category=promo').set(auth()).expect(400);
        // Not left for the next test's clock to send.
        await t.http.post(`/api/sms/bulk/${held.body.batchId}/cancel`).set(auth()).expect(200);
      });

      it('keeps a mention already in the text', async () => {
        const res = await t.http
          .post('/api/sms/bulk')
          .set(auth())
          .send({ category: 'marketing', recipients: [{ phone: '0622222222' }], message: 'Promo ! Stop au 36111' })
          .expect(202);
        expect(res.body.stopMentionAppended).toBe(false);
      });

      it('refuses with 400 naming message a text the appended mention takes past 1,600 characters, writing nothing', async () => {
        const res = await t.http
          .post('/api/sms/bulk')
          .set(auth())
          .send({ category: 'marketing', recipients: [{ phone: '0622222223' }], message: 'a'.repeat(1590) })
          .expect(400);
        expect(res.body.details).toEqual([
          { field: 'message', problems: [expect.stringMatching(/with the opt-out mention appended; Twilio accepts at most 1600/)] },
        ]);
        const listed = await t.http.get('/api/sms/messages?phone=0622222223').set(auth()).expect(200);
        expect(listed.body.total).toBe(0);
      });
    });
  });
});
