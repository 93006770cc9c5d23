import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { DataSource, IsNull } from 'typeorm';
import { vi } from 'vitest';
import { Appointment } from '../src/appointments/appointment.entity.js';
import { AuditAction } from '../src/audit/audit-action.enum.js';
import { AuditLog } from '../src/audit/audit-log.entity.js';
import { buildDataSourceOptions } from '../src/database/data-source.js';
import { DomainEvent } from '../src/events/domain-event.entity.js';
import { SmsBatch } from '../src/sms/sms-batch.entity.js';
import { SmsMessage } from '../src/sms/sms-message.entity.js';
import { SMS_EVENTS } from '../src/sms/sms.events.js';
import { buildApp } from './support/built-app.js';
import { onFreePort } from './support/free-port.js';
import { createTestDatabase, describeEachDatabase, type TestDatabase } from './support/databases.js';
import { baseEnvironment, ROOT_EMAIL, ROOT_PASSWORD, twilioEnvironment } from './support/test-app.js';
import { testTwilioCredentials, TwilioStandIn } from './support/twilio-stand-in.js';

const root = new URL('..', import.meta.url).pathname;
/** The app built for this file only (see buildApp). */
let build: ReturnType<typeof buildApp>;
beforeAll(() => {
  build = buildApp('outbox-crash');
}, 180_000);
afterAll(() => build?.remove());

interface AppProcess {
  child: ChildProcess;
  url: string;
  output: () => string;
}

/** `nodeArgs`: e.g. `--import` of a test hook (test/support/crash-after-settle.mjs). Started again on another port on EADDRINUSE (onFreePort). */
async function startApp(env: Record<string, string>, nodeArgs: string[] = []): Promise<AppProcess> {
  return onFreePort((port) => startAppOnce(env, nodeArgs, port));
}

async function startAppOnce(env: Record<string, string>, nodeArgs: string[], port: number): Promise<AppProcess> {
  const child = spawn(process.execPath, [...nodeArgs, build.main], {
    cwd: build.dir,
    env: { PATH: process.env.PATH, ...env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const app = { child, url: `http://127.0.0.1:${port}`, output: () => output };
  for (const deadline = Date.now() + 60_000; ; await new Promise((resolve) => setTimeout(resolve, 200))) {
    // A native abort (SIGABRT) ends it with a signal and no exit code. Said at once (startApp may try another port).
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`the app exited while starting (${child.signalCode ?? child.exitCode}):\n${output}`);
    const status = await fetch(`${app.url}/api/health`).then(
      (res) => res.status,
      () => 0,
    );
    if (status === 200) return app;
    if (Date.now() > deadline) throw new Error(`the app did not start (health ${status}):\n${output}`);
  }
}

async function kill(app: AppProcess): Promise<void> {
  if (app.child.exitCode !== null || app.child.signalCode !== null) return;
  const exited = once(app.child, 'exit');
  app.child.kill('SIGKILL');
  await exited;
}

async function call(app: AppProcess, method: string, path: string, token?: string, body?: unknown) {
  const res = await fetch(`${app.url}${path}`, {
    method,
    headers: {
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  }).catch((error: unknown) => {
    // The app died on its own (not our SIGKILL): say so, with what it printed, not only "fetch failed".
    const { exitCode, signalCode } = app.child;
    if (exitCode === null && signalCode === null) throw error;
    throw new Error(`the app is gone (${signalCode ?? exitCode}):\n${app.output().slice(-4000)}`, { cause: error });
  });
  return { status: res.status, body: await res.json() };
}

describeEachDatabase('Outbox across a crash (SIGKILL of a real process)', (kind) => {
  const credentials = testTwilioCredentials();
  let standIn: TwilioStandIn;
  let db: TestDatabase;
  /** A second connection to the app's database, to read the outbox. */
  let reader: DataSource;
  const apps: AppProcess[] = [];
  const env = (relay: boolean) => ({
    ...baseEnvironment(db.url),
    ...twilioEnvironment(standIn, credentials.authToken),
    QUIET_HOURS: '',
    REMINDERS_ENABLED: 'true',
    REMINDER_SCAN_INTERVAL_SECONDS: '1',
    EVENT_RELAY_ENABLED: String(relay),
  });
  const unprocessed = () => reader.getRepository(DomainEvent).find({ where: { processedAt: IsNull() } });
  const openReader = async () => {
    if (reader?.isInitialized) return;
    reader = new DataSource(
      buildDataSourceOptions(
        kind === 'sqlite' ? { type: 'sqlite', path: db.url.slice('sqlite:'.length) } : { type: 'postgres', url: db.url },
      ),
    );
    await reader.initialize();
  };

  beforeAll(async () => {
    standIn = await TwilioStandIn.start(credentials);
    db = await createTestDatabase(kind);
  });
  afterAll(async () => {
    for (const app of apps) await kill(app);
    if (reader?.isInitialized) await reader.destroy();
    await db?.drop();
    await standIn?.stop();
  });

  it('a confirmation and a reminder committed but not sent when the process dies go out exactly once after a restart', async () => {
    // First life: its relay does not run, so the kill finds both events committed and not delivered,
    // the state a crash right after the commits leaves (the scanner's claim included).
    const first = await startApp(env(false));
    apps.push(first);
    const login = await call(first, 'POST', '/api/auth/login', undefined, { email: ROOT_EMAIL, password: ROOT_PASSWORD });
    const token = login.body.access_token as string;
    const startsAt = new Date(Date.now() + 2 * 3_600_000).toISOString();
    const created = await call(first, 'POST', '/api/appointments', token, {
      clientName: 'Jean Dupont',
      clientPhone: '0612345678',
      startsAt,
    });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    expect((await call(first, 'POST', `/api/appointments/${id}/confirm`, token)).status).toBe(200);
    // Its reminder (due at once: the appointment is less than REMINDER_LEAD_HOURS away) is claimed by the scanner.
    await vi.waitFor(async () => expect((await call(first, 'GET', `/api/appointments/${id}`, token)).body.reminderDueAt).toBeNull(), {
      timeout: 20_000,
      interval: 200,
    });
    await kill(first);

    await openReader();
    expect((await unprocessed()).map((e) => e.type).sort()).toEqual(['appointment.confirmed', 'appointment.reminder_due']);
    expect(standIn.requests).toHaveLength(0);

    // Second life, relay on: each SMS goes once.
    const second = await startApp(env(true));
    apps.push(second);
    await vi.waitFor(async () => expect(await unprocessed()).toHaveLength(0), { timeout: 30_000, interval: 200 });
    const details = await vi.waitFor(
      async () => {
        const res = await call(second, 'GET', `/api/appointments/${id}`, token);
        expect(res.body.reminderSentAt).not.toBeNull();
        return res.body;
      },
      { timeout: 10_000, interval: 200 },
    );
    // A few more polls of the relay and scans: nothing more goes.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect(standIn.requests).toHaveLength(2);
    const bodies = standIn.requests.map((r) => String(r.form.Body));
    expect(bodies.filter((b) => /rappel/i.test(b))).toHaveLength(1);
    expect(bodies.filter((b) => /confirm/i.test(b))).toHaveLength(1);
    expect(details.messages.map((m: { type: string }) => m.type).sort()).toEqual(['appointment_confirmed', 'appointment_reminder']);
  }, 180_000);

  it('a reminder whose outcome was committed when the process died gets reminder_sent_at after a restart, exactly once', async () => {
    for (const app of apps.splice(0)) await kill(app);
    standIn.reset();
    const metricsToken = 'crash-metrics-token-' + 'x'.repeat(20);
    const reminderSentTotal = async (app: AppProcess) => {
      const text = await (await fetch(`${app.url}/api/metrics`, { headers: { authorization: `Bearer ${metricsToken}` } })).text();
      return Number(/^appointment_reminders_sent_total (\d+)/m.exec(text)?.[1]);
    };
    // First life: killed (SIGKILL, by the preloaded hook) right after the reminder's outcome is committed,
    // before anything else runs. Twilio answers in 300 ms, so the relay is done with the reminder's own
    // event (the listener only writes the message) well before.
    standIn.setBehaviour({ delayMs: 300 });
    const first = await startApp({ ...env(true), METRICS_TOKEN: metricsToken, CRASH_AFTER_SETTLE_TEMPLATE: 'appointment_reminder' }, [
      '--import',
      join(root, 'test/support/crash-after-settle.mjs'),
    ]);
    apps.push(first);
    const exited = once(first.child, 'exit');
    const login = await call(first, 'POST', '/api/auth/login', undefined, { email: ROOT_EMAIL, password: ROOT_PASSWORD });
    const token = login.body.access_token as string;
    const created = await call(first, 'POST', '/api/appointments', token, {
      clientName: 'Marie Curie',
      clientPhone: '0612345699',
      startsAt: new Date(Date.now() + 2 * 3_600_000).toISOString(),
    });
    const id = created.body.id as string;
    expect((await call(first, 'POST', `/api/appointments/${id}/confirm`, token)).status).toBe(200);
    const [, signal] = await Promise.race([
      exited,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`not killed:\n${first.output()}`)), 30_000)),
    ]);
    expect(signal).toBe('SIGKILL');

    // What the kill left: the reminder sent and its outcome stored with its event, not delivered.
    await openReader();
    const reminder = await reader.getRepository(SmsMessage).findOneByOrFail({ relatedId: id, templateType: 'appointment_reminder' });
    expect(reminder.providerSid).toMatch(/^SM/);
    const updates = async () =>
      (await reader.getRepository(DomainEvent).findBy({ type: SMS_EVENTS.messageUpdated })).filter(
        (e) => e.payload.messageId === reminder.id,
      );
    const [update] = await updates();
    expect(update).toMatchObject({ processedAt: null, payload: { status: 'queued', relatedId: id } });
    expect((await reader.getRepository(Appointment).findOneByOrFail({ id })).reminderSentAt).toBeNull();
    // Its journal entry was committed with the outcome.
    const journal = async () =>
      (await reader.getRepository(AuditLog).findBy({ action: AuditAction.SendNotificationSms })).filter(
        (e) => e.metadata?.messageId === reminder.id,
      );
    expect(await journal()).toEqual([
      expect.objectContaining({
        targetType: 'appointment',
        targetId: id,
        metadata: expect.objectContaining({ status: 'queued', sid: reminder.providerSid, attempts: 1, type: 'appointment_reminder' }),
      }),
    ]);

    // Second life: the relay delivers the event, reminder_sent_at is set; nothing is sent again.
    standIn.setBehaviour({});
    const second = await startApp({ ...env(true), METRICS_TOKEN: metricsToken });
    apps.push(second);
    const sentAt = await vi.waitFor(
      async () => {
        const appointment = await reader.getRepository(Appointment).findOneByOrFail({ id });
        expect(appointment.reminderSentAt).not.toBeNull();
        return appointment.reminderSentAt!;
      },
      { timeout: 20_000, interval: 200 },
    );
    expect(sentAt.toISOString()).toBe(update.payload.at);
    expect(await reminderSentTotal(second)).toBe(1);

    // Delivered again (at least once): nothing changes, nothing counted twice.
    await reader.getRepository(DomainEvent).update({ id: update.id }, { processedAt: null, nextAttemptAt: new Date() });
    await vi.waitFor(async () => expect((await updates())[0]).toMatchObject({ processedAt: expect.any(Date), attempts: 2 }), {
      timeout: 10_000,
      interval: 200,
    });
    expect((await reader.getRepository(Appointment).findOneByOrFail({ id })).reminderSentAt).toEqual(sentAt);
    expect(await reminderSentTotal(second)).toBe(1);
    expect(await updates()).toHaveLength(1);
    // Journaled once, across the crash, the restart and the redelivery.
    expect(await journal()).toHaveLength(1);
    const creations = standIn.requests.filter((r) => r.method === 'POST').map((r) => String(r.form.Body));
    expect(creations.filter((b) => /rappel/i.test(b))).toHaveLength(1);
    expect(creations.filter((b) => /confirm/i.test(b))).toHaveLength(1);
  }, 180_000);

  it('the journal entry of a batch end committed when the process died is there once after a restart (last settlement, cancellations)', async () => {
    for (const app of apps.splice(0)) await kill(app);
    standIn.reset();
    standIn.setBehaviour({});
    await openReader();
    const hook = ['--import', join(root, 'test/support/crash-after-settle.mjs')];
    const crashEnv = () => ({ ...env(true), CRASH_AFTER_BATCH_END: '1' });
    const login = async (app: AppProcess) =>
      (await call(app, 'POST', '/api/auth/login', undefined, { email: ROOT_EMAIL, password: ROOT_PASSWORD })).body.access_token as string;
    const ends = async (batchId: string) =>
      (await reader.getRepository(AuditLog).findBy({ action: AuditAction.SendBulkSms, targetId: batchId })).filter(
        (e) => e.metadata?.phase === 'finished',
      );
    /** Waits for the hook's SIGKILL (a request in flight when it comes fails: its answer never comes). */
    const killed = async (app: AppProcess, trigger?: () => Promise<unknown>) => {
      const exited = once(app.child, 'exit');
      await trigger?.().catch(() => undefined);
      const [, signal] = await Promise.race([
        exited,
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`not killed:\n${app.output()}`)), 30_000)),
      ]);
      expect(signal).toBe('SIGKILL');
    };
    const later = new Date(Date.now() + 30 * 60_000).toISOString();

    // 1. Killed right after the commit of the batch's last settlement (the dispatcher had not gone on).
    const first = await startApp(crashEnv(), hook);
    apps.push(first);
    let token = await login(first);
    const sent = await call(first, 'POST', '/api/sms/bulk', token, {
      recipients: [{ phone: '0611111111' }, { phone: '0622222222' }],
      message: 'Bonjour',
    });
    expect(sent.status).toBe(202);
    await killed(first);
    const sentBatch = await reader.getRepository(SmsBatch).findOneByOrFail({ id: sent.body.batchId });
    expect(sentBatch).toMatchObject({ status: 'completed', remaining: 0, finishedAt: expect.any(Date) });
    const [sentEnd, ...sentMore] = await ends(sentBatch.id);
    expect(sentMore).toHaveLength(0);
    expect(sentEnd).toMatchObject({ actorEmail: ROOT_EMAIL, actorRole: 'superadmin', targetType: 'sms_batch', targetId: sentBatch.id });
    expect(sentEnd.metadata).toMatchObject({
      batchId: sentBatch.id,
      phase: 'finished',
      status: 'completed',
      total: 2,
      accepted: 2,
      invalid: 0,
      duplicates: 0,
      sent: 2,
      failed: 0,
      queued: 0,
      sending: 0,
      cancelled: 0,
      skipped: 0,
      providerStatuses: { queued: 2 },
      startedAt: expect.any(String),
      finishedAt: sentBatch.finishedAt!.toISOString(),
    });

    // 2. Killed right after the commit of a batch cancellation with nothing in flight.
    const second = await startApp(crashEnv(), hook);
    apps.push(second);
    token = await login(second);
    const scheduled = await call(second, 'POST', '/api/sms/bulk', token, {
      recipients: [{ phone: '0633333333' }, { phone: '0644444444' }, { phone: '0655555555' }],
      message: 'Plus tard',
      sendAt: later,
    });
    expect(scheduled.status).toBe(202);
    await killed(second, () => call(second, 'POST', `/api/sms/bulk/${scheduled.body.batchId}/cancel`, token));
    expect(await reader.getRepository(SmsBatch).findOneByOrFail({ id: scheduled.body.batchId })).toMatchObject({ status: 'cancelled' });
    expect((await ends(scheduled.body.batchId)).map((e) => e.metadata)).toEqual([
      expect.objectContaining({ status: 'cancelled', cancelled: 3, sent: 0, queued: 0 }),
    ]);

    // 3. Killed right after the commit of the cancellation of the batch's last waiting message.
    const third = await startApp(crashEnv(), hook);
    apps.push(third);
    token = await login(third);
    const single = await call(third, 'POST', '/api/sms/bulk', token, {
      recipients: [{ phone: '0666666666' }],
      message: 'Plus tard',
      sendAt: later,
    });
    expect(single.status).toBe(202);
    const [message] = await reader.getRepository(SmsMessage).findBy({ batchId: single.body.batchId });
    await killed(third, () => call(third, 'POST', `/api/sms/messages/${message.id}/cancel`, token));
    expect((await ends(single.body.batchId)).map((e) => e.metadata)).toEqual([
      expect.objectContaining({ status: 'cancelled', cancelled: 1, sent: 0, queued: 0 }),
    ]);

    // Restarted without the hook: nothing journals those ends again, and a batch run through ends with one entry.
    const fourth = await startApp(env(true));
    apps.push(fourth);
    token = await login(fourth);
    const normal = await call(fourth, 'POST', '/api/sms/bulk', token, {
      recipients: [{ phone: '0677777777' }, { phone: '0688888888' }],
      message: 'Bonjour',
    });
    expect(normal.status).toBe(202);
    await vi.waitFor(
      async () => expect((await call(fourth, 'GET', `/api/sms/bulk/${normal.body.batchId}`, token)).body.status).toBe('completed'),
      { timeout: 20_000, interval: 200 },
    );
    // A few more polls of the dispatcher: nothing more is written.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect((await ends(normal.body.batchId)).map((e) => e.metadata)).toEqual([expect.objectContaining({ status: 'completed', sent: 2 })]);
    expect(await ends(sentBatch.id)).toEqual([sentEnd]);
    expect(await ends(scheduled.body.batchId)).toHaveLength(1);
    expect(await ends(single.body.batchId)).toHaveLength(1);
    // Each message went once.
    expect(
      standIn.requests
        .filter((r) => r.method === 'POST')
        .map((r) => String(r.form.To))
        .sort(),
    ).toEqual(['+33611111111', '+33622222222', '+33677777777', '+33688888888']);
  }, 240_000);
});
