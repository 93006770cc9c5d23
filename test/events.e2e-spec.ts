import { EventEmitter2 } from '@nestjs/event-emitter';
import { DataSource, IsNull } from 'typeorm';
import { Appointment, AppointmentStatus } from '../src/appointments/appointment.entity.js';
import { vi } from 'vitest';
import { ReminderScheduler } from '../src/appointments/reminder.scheduler.js';
import { Clock } from '../src/common/clock.js';
import { DomainEventRelay } from '../src/events/domain-event-relay.js';
import { DomainEvent } from '../src/events/domain-event.entity.js';
import type { DomainEventEnvelope } from '../src/events/domain-event.types.js';
import { DomainEvents } from '../src/events/domain-events.service.js';
import { SMS_PROVIDER, type SmsProvider } from '../src/sms/providers/sms-provider.js';
import { SmsMessage } from '../src/sms/sms-message.entity.js';
import { SMS_EVENTS } from '../src/sms/sms.events.js';
import { SmsService } from '../src/sms/sms.service.js';
import { describeEachDatabase } from './support/databases.js';
import { startDispatchApp, type DispatchApp } from './support/dispatch.js';
import type { TestApp } from './support/test-app.js';
import type { TwilioStandIn } from './support/twilio-stand-in.js';

/** The outbox of domain events between the appointments and the SMS they ask for. */
describeEachDatabase('Domain event outbox', (kind) => {
  let setup: DispatchApp | undefined;
  let standIn: TwilioStandIn;
  let t: TestApp;
  let admin: string;
  const auth = () => ({ Authorization: `Bearer ${admin}` });
  const events = () => t.get(DataSource).getRepository(DomainEvent);
  const create = async (startsAt = '2030-05-10T08:00:00Z', clientPhone = '0612345678') =>
    (await t.http.post('/api/appointments').set(auth()).send({ clientName: 'Jean Dupont', clientPhone, startsAt }).expect(201)).body;
  const confirm = async (id: string) => (await t.http.post(`/api/appointments/${id}/confirm`).set(auth()).expect(200)).body;
  const journal = async (action: string, id: string) =>
    (await t.http.get(`/api/audit?action=${action}&limit=100`).set(auth()).expect(200)).body.items.filter(
      (e: { targetId: string }) => e.targetId === id,
    );
  const smsUpdates = async (messageId: string) =>
    (await events().findBy({ type: SMS_EVENTS.messageUpdated })).filter((e) => e.payload.messageId === messageId);
  const eventsAbout = async (id: string) =>
    (await events().find({ order: { createdAt: 'ASC' } })).filter((e) => e.payload.appointment?.id === id);

  beforeAll(async () => {
    // One attempt: a Twilio failure is final at once (retries are the dispatcher's own suite).
    // A Twilio timeout well above any answer of the stand-in here; a short poll for abandoned leases.
    setup = await startDispatchApp(kind, {
      env: { TWILIO_TIMEOUT_MS: '6000', SMS_POLL_INTERVAL_MS: '200', QUIET_HOURS: '', SMS_MAX_ATTEMPTS: '1' },
    });
    ({ standIn, t } = setup);
    admin = await t.rootToken();
  });
  afterAll(() => setup?.close());
  beforeEach(async () => {
    await t.settle();
    standIn.reset();
  });
  afterEach(() => vi.restoreAllMocks());

  it('commits the change, its journal entry and its event together, and the relay marks the event processed', async () => {
    const appointment = await create();
    await confirm(appointment.id);
    const [event] = await eventsAbout(appointment.id);
    expect(event).toMatchObject({ type: 'appointment.confirmed', payload: { actor: { email: 'root@example.test' } } });
    expect(await journal('appointment_confirmed', appointment.id)).toHaveLength(1);
    await t.settle();
    expect(await events().findOneByOrFail({ id: event.id })).toMatchObject({
      processedAt: expect.any(Date),
      attempts: 1,
      leaseUntil: null,
    });
    expect(standIn.requests).toHaveLength(1);
  });

  it('writes nothing when the event cannot be written: no change, no journal entry, no SMS', async () => {
    const appointment = await create();
    vi.spyOn(t.get(DomainEvents), 'insert').mockRejectedValueOnce(new Error('outbox unavailable'));
    await t.http.post(`/api/appointments/${appointment.id}/confirm`).set(auth()).expect(500);
    const after = await t.http.get(`/api/appointments/${appointment.id}`).set(auth()).expect(200);
    expect(after.body).toMatchObject({ status: 'pending', reminderDueAt: null });
    expect(await journal('appointment_confirmed', appointment.id)).toHaveLength(0);
    await t.settle();
    expect(standIn.requests).toHaveLength(0);
    expect(await eventsAbout(appointment.id)).toHaveLength(0);

    // The same for a cancellation and a reschedule; then the confirmation goes through.
    await confirm(appointment.id);
    vi.spyOn(t.get(DomainEvents), 'insert').mockRejectedValueOnce(new Error('outbox unavailable'));
    await t.http.post(`/api/appointments/${appointment.id}/cancel`).set(auth()).send({ reason: 'x' }).expect(500);
    vi.spyOn(t.get(DomainEvents), 'insert').mockRejectedValueOnce(new Error('outbox unavailable'));
    await t.http.patch(`/api/appointments/${appointment.id}`).set(auth()).send({ startsAt: '2030-05-11T08:00:00Z' }).expect(500);
    const still = await t.http.get(`/api/appointments/${appointment.id}`).set(auth()).expect(200);
    expect(still.body).toMatchObject({ status: 'confirmed', startsAt: '2030-05-10T08:00:00.000Z' });
    expect(await journal('appointment_cancelled', appointment.id)).toHaveLength(0);
    expect(await journal('appointment_updated', appointment.id)).toHaveLength(0);
  });

  it('a replayed event makes no second SMS: redelivered by the relay, or delivered twice at once', async () => {
    const appointment = await create();
    await confirm(appointment.id);
    await t.settle();
    expect(standIn.requests).toHaveLength(1);
    const [event] = await eventsAbout(appointment.id);

    // A relay that died after the send but before marking the event processed: it is delivered again.
    await events().update({ id: event.id }, { processedAt: null, nextAttemptAt: new Date() });
    await t.settle();
    expect(await events().findOneByOrFail({ id: event.id })).toMatchObject({ processedAt: expect.any(Date), attempts: 2 });

    // Two relays delivering the same event at the same moment (the dedupe key's unique index decides).
    const envelope: DomainEventEnvelope = { id: event.id, type: event.type, payload: event.payload, attempt: 3 };
    const emitter = t.get(EventEmitter2);
    await Promise.all([emitter.emitAsync(event.type, envelope), emitter.emitAsync(event.type, envelope)]);

    expect(standIn.requests).toHaveLength(1);
    const details = await t.http.get(`/api/appointments/${appointment.id}`).set(auth()).expect(200);
    expect(details.body.messages).toHaveLength(1);
    const messages = await t.http.get('/api/sms/messages?type=appointment_confirmed&limit=100').set(auth()).expect(200);
    expect(messages.body.items.filter((m: { relatedId: string }) => m.relatedId === appointment.id)).toHaveLength(1);
  });

  it('delivers an event again later when a listener fails for an unexpected reason', async () => {
    const appointment = await create();
    vi.spyOn(t.get(SmsService), 'sendNotification').mockRejectedValueOnce(new Error('database went away'));
    await confirm(appointment.id);
    await t.settle();
    const [event] = await eventsAbout(appointment.id);
    expect(event).toMatchObject({ processedAt: null, attempts: 1, lastError: 'database went away', leaseUntil: null });
    expect(event.nextAttemptAt.getTime()).toBeGreaterThan(Date.now());
    expect(standIn.requests).toHaveLength(0);

    // Its retry time comes: delivered, once.
    await events().update({ id: event.id }, { nextAttemptAt: new Date() });
    await t.settle();
    expect(await events().findOneByOrFail({ id: event.id })).toMatchObject({ processedAt: expect.any(Date), attempts: 2 });
    expect(standIn.requests).toHaveLength(1);
  });

  it('finds by polling an event nobody woke it for (written by another process, say)', async () => {
    const appointment = await create();
    // Confirmed by another process, its event written straight into the outbox: no commit hook wakes this relay.
    await t.get(DataSource).getRepository(Appointment).update({ id: appointment.id }, { status: AppointmentStatus.Confirmed });
    const pending = await t.http.get(`/api/appointments/${appointment.id}`).set(auth()).expect(200);
    await t.get(DomainEvents).insert(t.get(DataSource).manager, 'appointment.confirmed', {
      appointment: { ...pending.body, messages: undefined },
      actor: null,
    });
    await vi.waitFor(() => expect(standIn.requests).toHaveLength(1), { timeout: 10_000, interval: 100 });
    expect(standIn.requests[0].form.Body).toMatch(/Jean Dupont/);
  });

  it('deletes processed events after a week, never unprocessed ones', async () => {
    const appointment = await create();
    await confirm(appointment.id);
    await t.settle();
    const [event] = await eventsAbout(appointment.id);
    const eightDaysAgo = new Date(Date.now() - 8 * 24 * 3_600_000);
    const waiting = await t.get(DomainEvents).insert(t.get(DataSource).manager, 'test.unhandled', { note: 'never processed' });
    await events().update({ id: waiting }, { createdAt: eightDaysAgo, nextAttemptAt: new Date(Date.now() + 3_600_000) });
    await events().update({ id: event.id }, { processedAt: eightDaysAgo });
    expect(await t.get(DomainEventRelay).prune()).toBeGreaterThanOrEqual(1);
    expect(await events().findOneBy({ id: event.id })).toBeNull();
    expect(await events().findOneBy({ id: waiting })).not.toBeNull();
    await events().delete({ id: waiting });
  });

  it('claims an event once with several relays delivering at once', async () => {
    const appointments = await Promise.all([1, 2, 3, 4].map((i) => create(`2030-05-1${i}T08:00:00Z`, `06123456${20 + i}`)));
    const relay = t.get(DomainEventRelay);
    // The relay of this instance is woken by each commit; three more passes race it.
    await Promise.all(appointments.map((a) => confirm(a.id)));
    await Promise.all([relay.drain(), relay.drain(), relay.drain()]);
    // The relay only writes the messages; the dispatcher sends them.
    await t.settle();
    expect(standIn.requests.map((r) => r.form.To).sort()).toEqual(appointments.map((a) => a.clientPhone).sort());
    expect(await events().countBy({ processedAt: IsNull() })).toBe(0);
  });

  it('reminder: the claim and its event are one transaction; Twilio failing leaves reminder_sent_at null', async () => {
    const clock = vi.spyOn(t.get(Clock), 'now').mockReturnValue(new Date('2030-06-01T10:00:00Z'));
    const one = await create('2030-06-02T09:00:00Z', '0612345631');
    const fine = await create('2030-06-02T09:30:00Z', '0612345632');
    await confirm(one.id);
    await confirm(fine.id);
    await t.settle();
    standIn.reset();

    // The event of one claim cannot be written: that claim is rolled back, its reminder stays due.
    clock.mockReturnValue(new Date('2030-06-01T12:00:00Z'));
    vi.spyOn(t.get(DomainEvents), 'insert').mockRejectedValueOnce(new Error('outbox unavailable'));
    await expect(t.get(ReminderScheduler).scan()).rejects.toThrow('outbox unavailable');
    const first = await t.http.get(`/api/appointments/${one.id}`).set(auth()).expect(200);
    expect(first.body).toMatchObject({ reminderDueAt: '2030-06-01T09:00:00.000Z', reminderSentAt: null });

    // Twilio fails one of the two reminders (every 2nd request answers 500) and accepts the other.
    standIn.setBehaviour({ failRate: 0.5, failStatus: 500 });
    expect(await t.get(ReminderScheduler).scan()).toMatchObject({ claimed: 2 });
    await t.settle();
    expect(standIn.requests).toHaveLength(2);
    const after = await Promise.all(
      [first.body.id, fine.id].map(async (id) => (await t.http.get(`/api/appointments/${id}`).set(auth()).expect(200)).body),
    );
    const failed = after.find((a) => a.messages.at(-1).status === 'failed');
    const sent = after.find((a) => a.messages.at(-1).status === 'queued');
    expect(failed.messages.at(-1)).toMatchObject({ type: 'appointment_reminder', errorCode: '20500' });
    expect(failed).toMatchObject({ reminderDueAt: null, reminderSentAt: null });
    expect(sent.messages.at(-1)).toMatchObject({ type: 'appointment_reminder' });
    expect(sent).toMatchObject({ reminderDueAt: null, reminderSentAt: expect.any(String) });

    // Claimed once: later scans send nothing more.
    standIn.reset();
    await t.get(ReminderScheduler).scan();
    await t.settle();
    expect(standIn.requests).toHaveLength(0);
  });

  it('the relay is not held by a slow provider: events are relayed and their messages written before Twilio answers', async () => {
    const first = await create('2030-05-20T08:00:00Z', '0612345641');
    const second = await create('2030-05-21T08:00:00Z', '0612345642');
    // The provider answers nothing until released below, however long the requests and queries take here.
    const provider = t.app.get<symbol, SmsProvider>(SMS_PROVIDER);
    const send = provider.send.bind(provider);
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const sends = vi.spyOn(provider, 'send').mockImplementation(async (message) => {
      await released;
      return send(message);
    });
    try {
      await confirm(first.id);
      await confirm(second.id);
      // A relay waiting on the provider would wait here for SMS_SEND_WAIT_MS (10 s) per message.
      const started = Date.now();
      await t.get(DomainEventRelay).drain();
      const drainMs = Date.now() - started;
      // Both events delivered and processed, both messages written, while the provider has answered neither.
      for (const appointment of [first, second]) {
        const [event] = await eventsAbout(appointment.id);
        expect(event.processedAt).toEqual(expect.any(Date));
        const details = await t.http.get(`/api/appointments/${appointment.id}`).set(auth()).expect(200);
        expect(details.body.messages).toEqual([expect.objectContaining({ type: 'appointment_confirmed', sid: null })]);
        expect(['queued', 'sending']).toContain(details.body.messages[0].status);
      }
      expect(drainMs).toBeLessThan(5000);
      // Both sends are with the provider (the dispatcher's calls in flight), still unanswered.
      await vi.waitFor(() => expect(sends).toHaveBeenCalledTimes(2), { timeout: 10_000, interval: 20 });
      expect(standIn.requests).toHaveLength(0);
    } finally {
      release();
    }
    // Then Twilio answers and the outcomes are stored.
    await t.settle();
    expect(standIn.requests).toHaveLength(2);
    for (const appointment of [first, second]) {
      const details = await t.http.get(`/api/appointments/${appointment.id}`).set(auth()).expect(200);
      expect(details.body.messages[0]).toMatchObject({ status: 'queued', sid: expect.stringMatching(/^SM/) });
    }
  });

  it('sms.message.updated of a message about a record is committed with its outcome, and only for such messages', async () => {
    const appointment = await create('2030-05-22T08:00:00Z', '0612345643');
    // The event cannot be written: the outcome is not stored either (one transaction); the row stays `sending`.
    const domainEvents = t.get(DomainEvents);
    const spy = vi
      .spyOn(domainEvents, 'insertStatement')
      .mockReturnValueOnce({ sql: 'INSERT INTO "no_such_table" ("id") VALUES (?)', params: ['x'] });
    await confirm(appointment.id);
    await t.get(DomainEventRelay).drain();
    await vi.waitFor(() => expect(spy).toHaveBeenCalledTimes(1), { timeout: 5000, interval: 20 });
    const rows = () => t.get(DataSource).getRepository(SmsMessage).findBy({ relatedId: appointment.id });
    await vi.waitFor(
      async () => {
        const [row] = await rows();
        expect(standIn.requests).toHaveLength(1);
        expect(row).toMatchObject({ status: 'sending', providerSid: null });
        expect(await smsUpdates(row.id)).toHaveLength(0);
      },
      { timeout: 5000, interval: 50 },
    );
    // Its lease runs out: taken up again, found at Twilio (not sent twice), stored with its event.
    const [row] = await rows();
    await t
      .get(DataSource)
      .getRepository(SmsMessage)
      .update({ id: row.id }, { leaseUntil: new Date(Date.now() - 1000) });
    await vi.waitFor(async () => expect((await rows())[0].providerSid).toMatch(/^SM/), { timeout: 10_000, interval: 50 });
    await t.settle();
    expect(standIn.requests.filter((r) => r.method === 'POST')).toHaveLength(1);
    const [update] = await smsUpdates(row.id);
    expect(update).toMatchObject({
      processedAt: expect.any(Date),
      // Adopted with the status Twilio shows now (sent: out of its queue), not the one its creation answered.
      payload: { messageId: row.id, status: 'sent', relatedType: 'appointment', relatedId: appointment.id },
    });
    expect(await smsUpdates(row.id)).toHaveLength(1);

    // A message about nothing (a plain send, a bulk batch's) writes no outbox row.
    const sent = await t.http.post('/api/sms/send').set(auth()).send({ to: '+33612345644', message: 'Bonjour' }).expect(201);
    expect(await smsUpdates(sent.body.id)).toHaveLength(0);
  });
});
