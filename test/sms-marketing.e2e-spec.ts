import { DateTime } from 'luxon';
import { Clock } from '../src/common/clock.js';
import { PublicHolidays } from '../src/sms/marketing/marketing-rules.js';
import { Role } from '../src/users/role.enum.js';
import { describeEachDatabase } from './support/databases.js';
import { waitForBatch } from './support/dispatch.js';
import { TestApp, twilioEnvironment } from './support/test-app.js';
import { testTwilioCredentials, TwilioStandIn } from './support/twilio-stand-in.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The next Saturday 21:00 in Paris, at least two days ahead (a non-holiday Monday follows it in these tests' years). */
function nextSaturdayEvening(): DateTime {
  let day = DateTime.now().setZone('Europe/Paris').plus({ days: 2 }).startOf('day');
  while (day.weekday !== 6) day = day.plus({ days: 1 });
  return day.set({ hour: 21 });
}

describeEachDatabase('Marketing batches and the French rules', (kind) => {
  const credentials = testTwilioCredentials();
  let standIn: TwilioStandIn;
  let t: TestApp;
  let admin: string;
  const auth = () => ({ Authorization: `Bearer ${admin}` });

  beforeAll(async () => {
    standIn = await TwilioStandIn.start(credentials);
    t = await TestApp.start(kind, {
      ...twilioEnvironment(standIn, credentials.authToken),
      SMS_MARKETING_STOP_MENTION: 'STOP au 36111',
      SMS_POLL_INTERVAL_MS: '100',
    });
    admin = (await t.userWithRole(Role.Admin)).token;
  });
  afterAll(async () => {
    vi.restoreAllMocks();
    await t?.close();
    await standIn?.stop();
  });
  afterEach(() => vi.restoreAllMocks());

  it('a marketing batch accepted at 21:00 on a Saturday waits for Monday 08:00, carrying the mention (counted in its segments)', async () => {
    let saturday = nextSaturdayEvening();
    // A public holiday on the Monday (Easter, Whit Monday…) would move the opening: take the next weekend then.
    const holidays = new PublicHolidays('FR');
    while (holidays.on(saturday.plus({ days: 2 }))) saturday = saturday.plus({ weeks: 1 });
    vi.spyOn(t.get(Clock), 'now').mockReturnValue(saturday.toJSDate());
    const message = 'Soldes : -20 % ce lundi'.padEnd(150, '.');
    const res = await t.http
      .post('/api/sms/bulk')
      .set(auth())
      .send({ category: 'marketing', recipients: [{ phone: '0612345678' }, { phone: '0687654321' }], message })
      .expect(202);
    const monday = saturday.plus({ days: 2 }).set({ hour: 8 });
    expect(res.body).toMatchObject({ category: 'marketing', queued: 2, notBefore: monday.toUTC().toISO(), stopMentionAppended: true });
    // 150 characters + "\nSTOP au 36111" go past 160: two segments each.
    expect(res.body.segments).toBe(4);
    const batch = await t.http.get(`/api/sms/bulk/${res.body.batchId}`).set(auth()).expect(200);
    expect(batch.body.notBefore).toBe(monday.toUTC().toISO());
    const messages = await t.http.get(`/api/sms/bulk/${res.body.batchId}/messages`).set(auth()).expect(200);
    for (const m of messages.body.items)
      expect(m).toMatchObject({ body: `${message}\nSTOP au 36111`, category: 'marketing', status: 'queued' });
    await sleep(500);
    expect(standIn.requests.filter((r) => r.method === 'POST')).toHaveLength(0);
  });

  it('a transactional batch at the same hour is not held, and carries no mention', async () => {
    vi.spyOn(t.get(Clock), 'now').mockReturnValue(nextSaturdayEvening().toJSDate());
    const res = await t.http
      .post('/api/sms/bulk')
      .set(auth())
      .send({ recipients: [{ phone: '0611111111' }], message: 'Le cabinet sera fermé lundi' })
      .expect(202);
    expect(res.body).toMatchObject({ category: 'transactional', notBefore: null, stopMentionAppended: false });
    await waitForBatch(t, admin, res.body.batchId);
    expect(standIn.requests.filter((r) => r.method === 'POST').map((r) => r.form?.Body)).toContain('Le cabinet sera fermé lundi');
  });

  it('keeps a mention already in the text', async () => {
    const res = await t.http
      .post('/api/sms/bulk')
      .set(auth())
      .send({ category: 'marketing', recipients: [{ phone: '0622222222' }], message: 'Promo ! Stop au 36111' })
      .expect(202);
    expect(res.body.stopMentionAppended).toBe(false);
  });
});
