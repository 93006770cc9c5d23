import { randomUUID } from 'node:crypto';
import twilio from 'twilio';
import { DataSource } from 'typeorm';
import { vi } from 'vitest';
import { ReminderScheduler } from '../src/appointments/reminder.scheduler.js';
import { MetricsService } from '../src/metrics/metrics.service.js';
import { DISPATCH_QUEUE, type DispatchQueue } from '../src/sms/dispatch/dispatch-queue.js';
import { DeliveryStatusService } from '../src/sms/webhooks/delivery-status.service.js';
import { Role } from '../src/users/role.enum.js';
import { describeEachDatabase } from './support/databases.js';
import { TestApp, twilioEnvironment } from './support/test-app.js';
import { testTwilioCredentials, TWILIO_MAGIC_NUMBERS, TwilioStandIn } from './support/twilio-stand-in.js';

const credentials = testTwilioCredentials();
const METRICS_TOKEN = 'scraper-token-' + 'x'.repeat(20);
const PUBLIC_BASE_URL = 'https://sms.example.test';
const inHours = (hours: number) => new Date(Date.now() + hours * 3_600_000).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** The value of one sample (`name{labels} value`) in a Prometheus exposition, or undefined. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([key, value]) => found[key] === value)) return Number(match[3]);
  }
  return undefined;
}

describeEachDatabase('Metrics', (kind) => {
  let standIn: TwilioStandIn;
  let t: TestApp;
  let root: string;
  const scrape = async () => (await t.http.get('/api/metrics').set('Authorization', `Bearer ${METRICS_TOKEN}`).expect(200)).text;

  beforeAll(async () => {
    standIn = await TwilioStandIn.start(credentials);
    t = await TestApp.start(kind, {
      ...twilioEnvironment(standIn, credentials.authToken),
      METRICS_TOKEN,
      REMINDER_LEAD_HOURS: '24',
      PUBLIC_BASE_URL,
      // One attempt: a Twilio 500 is final at once (retries have their own counter and suite).
      SMS_MAX_ATTEMPTS: '1',
    });
    root = await t.rootToken();
  });
  afterAll(async () => {
    await t?.close();
    await standIn?.stop();
  });
  beforeEach(() => standIn.reset());

  describe('access', () => {
    it('answers 401 without a token or with a wrong one', async () => {
      expect((await t.http.get('/api/metrics')).status).toBe(401);
      expect((await t.http.get('/api/metrics').set('Authorization', `Bearer ${METRICS_TOKEN}x`)).status).toBe(401);
      expect((await t.http.get('/api/metrics').set('Authorization', `Basic ${METRICS_TOKEN}`)).status).toBe(401);
    });

    it('answers 403 to an admin and a user', async () => {
      for (const role of [Role.Admin, Role.User]) {
        const { token } = await t.userWithRole(role);
        const res = await t.http.get('/api/metrics').set('Authorization', `Bearer ${token}`);
        expect(res.status).toBe(403);
        expect(res.body).toMatchObject({ statusCode: 403, message: expect.stringContaining('superadmin') });
      }
    });

    it("serves Prometheus' text format to a superadmin and to METRICS_TOKEN", async () => {
      const bySuperadmin = await t.http.get('/api/metrics').set('Authorization', `Bearer ${root}`).expect(200);
      expect(bySuperadmin.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
      expect(bySuperadmin.text).toContain('# TYPE http_requests_total counter');
      const byToken = await t.http.get('/api/metrics').set('Authorization', `Bearer ${METRICS_TOKEN}`).expect(200);
      expect(byToken.text).toContain('# TYPE process_cpu_seconds_total counter');
    });

    it('is listed in the OpenAPI document', async () => {
      const doc = await t.http.get('/api/docs-json').expect(200);
      expect(Object.keys(doc.body.paths)).toEqual(expect.arrayContaining(['/api/metrics', '/api/health/live', '/api/health/ready']));
    });
  });

  it('counts HTTP requests by route pattern (never the raw URL) and status, with latency histograms', async () => {
    const id = randomUUID();
    await t.http.get(`/api/sms/messages/${id}`).set('Authorization', `Bearer ${root}`).expect(404);
    await t.http.get(`/api/no-such-route/${id}`).expect(404);
    const text = await scrape();
    const route = { method: 'GET', route: '/api/sms/messages/:id', status: '404' };
    expect(sample(text, 'http_requests_total', route)).toBe(1);
    expect(sample(text, 'http_request_duration_seconds_count', route)).toBe(1);
    expect(sample(text, 'http_request_duration_seconds_bucket', { ...route, le: '+Inf' })).toBe(1);
    expect(sample(text, 'http_requests_total', { method: 'GET', route: 'unmatched', status: '404' })).toBeGreaterThanOrEqual(1);
    expect(text).not.toContain(id);
  });

  it('counts SMS by kind, category and state, and Twilio calls with their latency and error codes', async () => {
    const before = await scrape();
    const base = (name: string, labels: Record<string, string>) => sample(before, name, labels) ?? 0;
    const ok = { operation: 'POST Messages', outcome: 'ok' };
    const sent = { kind: 'single', category: 'transactional', state: 'queued' };
    const failed = { kind: 'single', category: 'transactional', state: 'failed' };
    const auth = { Authorization: `Bearer ${root}` };

    await t.http.post('/api/sms/send').set(auth).send({ to: '0612345678', message: 'Bonjour' }).expect(201);
    await t.http.post('/api/sms/send').set(auth).send({ to: TWILIO_MAGIC_NUMBERS.invalid, message: 'Bonjour' }).expect(400);
    standIn.setBehaviour({ failRate: 1, failStatus: 500 });
    expect((await t.http.post('/api/sms/send').set(auth).send({ to: '0612345679', message: 'Bonjour' })).status).toBe(502);

    const after = await scrape();
    expect(sample(after, 'sms_messages_total', sent)).toBe(base('sms_messages_total', sent) + 1);
    expect(sample(after, 'sms_messages_total', failed)).toBe(base('sms_messages_total', failed) + 2);
    expect(sample(after, 'twilio_request_duration_seconds_count', ok)).toBe(base('twilio_request_duration_seconds_count', ok) + 1);
    const errors = { operation: 'POST Messages', outcome: 'error' };
    expect(sample(after, 'twilio_request_duration_seconds_count', errors)).toBe(base('twilio_request_duration_seconds_count', errors) + 2);
    expect(sample(after, 'twilio_errors_total', { operation: 'POST Messages', code: '21211' })).toBe(1);
    expect(after).toMatch(/twilio_errors_total\{operation="POST Messages",code="(20500|http_500)"\} 1/);
  });

  it('reports the queue depth and the age of the oldest due message, read from sms_messages at scrape time', async () => {
    const dataSource = t.get(DataSource);
    // The dispatcher would take the due rows written below: it waits while the gauges are read.
    const queue = t.app.get<DispatchQueue>(DISPATCH_QUEUE);
    await queue.stop();
    onTestFinished(() => queue.start());
    const insert = (id: string, notBefore: Date | null, createdAt: Date) =>
      dataSource
        .createQueryBuilder()
        .insert()
        .into('sms_messages')
        .values({
          id,
          to: '+33612345678',
          body: 'queued',
          kind: 'single',
          provider: 'twilio',
          status: 'queued',
          segments: 1,
          encoding: 'GSM-7',
          notBefore,
          createdAt,
          updatedAt: createdAt,
        })
        .execute();
    const now = Date.now();
    await insert(randomUUID(), null, new Date(now - 120_000));
    await insert(randomUUID(), new Date(now - 300_000), new Date(now - 600_000));
    await insert(randomUUID(), new Date(now + 3_600_000), new Date(now - 900_000));
    const text = await scrape();
    expect(sample(text, 'sms_queue_depth', { when: 'due' })).toBe(2);
    expect(sample(text, 'sms_queue_depth', { when: 'scheduled' })).toBe(1);
    expect(sample(text, 'sms_queue_probe_success')).toBe(1);
    // Due for 5 minutes (since its notBefore), not 10 (since it was written); the scheduled one does not count.
    const age = sample(text, 'sms_queue_oldest_age_seconds')!;
    expect(age).toBeGreaterThanOrEqual(299);
    expect(age).toBeLessThan(400);
    await dataSource.query(`DELETE FROM sms_messages WHERE status = 'queued'`);
    expect(sample(await scrape(), 'sms_queue_depth', { when: 'due' })).toBe(0);
  });

  it('counts webhooks accepted and refused for their signature, and what status callbacks did', async () => {
    const auth = { Authorization: `Bearer ${root}` };
    const sent = await t.http.post('/api/sms/send').set(auth).send({ to: '0612345678', message: 'Bonjour' }).expect(201);
    const webhook = (path: string, params: Record<string, string>, signature: string) =>
      t.http.post(path).type('form').set('X-Twilio-Signature', signature).send(params);
    const sign = (path: string, params: Record<string, string>) =>
      twilio.getExpectedTwilioSignature(credentials.authToken, PUBLIC_BASE_URL + path, params);
    const status = { MessageSid: sent.body.sid, MessageStatus: 'delivered', AccountSid: credentials.accountSid };
    const inbound = { MessageSid: 'SM' + 'a'.repeat(32), From: '+33612345678', To: '+33700000000', Body: 'Merci' };

    await webhook('/api/sms/webhooks/status', status, sign('/api/sms/webhooks/status', status)).expect(200);
    await webhook('/api/sms/webhooks/status', status, sign('/api/sms/webhooks/status', status)).expect(200);
    await webhook('/api/sms/webhooks/status', status, 'forged').expect(403);
    await t.http.post('/api/sms/webhooks/inbound').type('form').send(inbound).expect(403);
    await webhook('/api/sms/webhooks/inbound', inbound, sign('/api/sms/webhooks/inbound', inbound)).expect(200);
    // Signed, but a payload the handler refuses (400), then a failure inside it (500).
    const malformed = { ...status, MessageStatus: 'teleported' };
    await webhook('/api/sms/webhooks/status', malformed, sign('/api/sms/webhooks/status', malformed)).expect(400);
    const badFrom = { ...inbound, MessageSid: 'SM' + 'b'.repeat(32), From: 'not a sender!' };
    await webhook('/api/sms/webhooks/inbound', badFrom, sign('/api/sms/webhooks/inbound', badFrom)).expect(400);
    vi.spyOn(t.get(DeliveryStatusService), 'apply').mockRejectedValueOnce(new Error('database unavailable'));
    await webhook('/api/sms/webhooks/status', status, sign('/api/sms/webhooks/status', status)).expect(500);
    vi.restoreAllMocks();

    const text = await scrape();
    expect(sample(text, 'sms_webhooks_total', { type: 'status', outcome: 'accepted' })).toBe(2);
    expect(sample(text, 'sms_webhooks_total', { type: 'status', outcome: 'refused_signature' })).toBe(1);
    expect(sample(text, 'sms_webhooks_total', { type: 'inbound', outcome: 'refused_signature' })).toBe(1);
    expect(sample(text, 'sms_webhooks_total', { type: 'inbound', outcome: 'accepted' })).toBe(1);
    expect(sample(text, 'sms_webhooks_total', { type: 'status', outcome: 'refused_payload' })).toBe(1);
    expect(sample(text, 'sms_webhooks_total', { type: 'inbound', outcome: 'refused_payload' })).toBe(1);
    expect(sample(text, 'sms_webhooks_total', { type: 'status', outcome: 'failed' })).toBe(1);
    expect(sample(text, 'sms_status_callbacks_total', { result: 'applied' })).toBe(1);
    expect(
      sample(text, 'sms_status_callbacks_total', { result: 'stale' }) ??
        sample(text, 'sms_status_callbacks_total', { result: 'duplicate' }),
    ).toBe(1);
    // The callback moved the message to delivered: counted with its kind and category.
    expect(sample(text, 'sms_messages_total', { kind: 'single', category: 'transactional', state: 'delivered' })).toBe(1);
  });

  it('counts a cancelled message', async () => {
    const auth = { Authorization: `Bearer ${root}` };
    const cancelled = { kind: 'single', category: 'transactional', state: 'cancelled' };
    const before = sample(await scrape(), 'sms_messages_total', cancelled) ?? 0;
    const later = await t.http
      .post('/api/sms/send')
      .set(auth)
      .send({ to: '0612345678', message: 'Plus tard', sendAt: inHours(2) })
      .expect(202);
    await t.http.post(`/api/sms/messages/${later.body.id}/cancel`).set(auth).expect(200);
    expect(sample(await scrape(), 'sms_messages_total', cancelled)).toBe(before + 1);
  });

  it("counts a cancelled marketing batch's messages under their category", async () => {
    const auth = { Authorization: `Bearer ${root}` };
    const cancelled = { kind: 'bulk', category: 'marketing', state: 'cancelled' };
    const before = sample(await scrape(), 'sms_messages_total', cancelled) ?? 0;
    const batch = await t.http
      .post('/api/sms/bulk')
      .set(auth)
      .send({
        recipients: [{ phone: '0612345601' }, { phone: '0612345602' }],
        message: 'Soldes',
        category: 'marketing',
        sendAt: inHours(72),
      })
      .expect(202);
    await t.http.post(`/api/sms/bulk/${batch.body.batchId}/cancel`).set(auth).expect(200);
    expect(sample(await scrape(), 'sms_messages_total', cancelled)).toBe(before + 2);
  });

  it('counts the reminders sent, once the SMS has really gone', async () => {
    const auth = { Authorization: `Bearer ${root}` };
    const created = await t.http
      .post('/api/appointments')
      .set(auth)
      .send({ clientName: 'Jean Dupont', clientPhone: '0612345678', startsAt: inHours(3) })
      .expect(201);
    await t.http.post(`/api/appointments/${created.body.id}/confirm`).set(auth).expect(200);
    const before = sample(await scrape(), 'appointment_reminders_sent_total') ?? 0;
    const result = await t.get(ReminderScheduler).scan();
    expect(result.claimed).toBe(1);
    await vi.waitFor(async () => expect(sample(await scrape(), 'appointment_reminders_sent_total')).toBe(before + 1), {
      timeout: 15_000,
      interval: 100,
    });
    const appointment = await t.http.get(`/api/appointments/${created.body.id}`).set(auth).expect(200);
    expect(appointment.body.reminderSentAt).toEqual(expect.any(String));
  });

  it('keeps a registry per app: two apps in one process count apart', async () => {
    const other = await TestApp.start(kind, { METRICS_TOKEN });
    try {
      await other.http.get('/api/health/live').expect(200);
      await other.http.get('/api/health/live').expect(200);
      const mine = sample(await scrape(), 'http_requests_total', { method: 'GET', route: '/api/health/live', status: '200' });
      expect(mine).toBeUndefined();
      expect(other.get(MetricsService)).not.toBe(t.get(MetricsService));
      const theirs = await other.http.get('/api/metrics').set('Authorization', `Bearer ${METRICS_TOKEN}`).expect(200);
      expect(sample(theirs.text, 'http_requests_total', { method: 'GET', route: '/api/health/live', status: '200' })).toBe(2);
    } finally {
      await other.close();
    }
  });
});
