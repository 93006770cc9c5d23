import { vi } from 'vitest';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { APPOINTMENT_EVENTS, type AppointmentRescheduledEvent } from '../src/appointments/appointment.events.js';
import { DomainEvent } from '../src/events/domain-event.entity.js';
import { AppointmentSmsListener } from '../src/sms/listeners/appointment-sms.listener.js';
import { ReminderDeliveryListener } from '../src/appointments/reminder-delivery.listener.js';
import { SMS_EVENTS, type SmsMessageUpdatedEvent } from '../src/sms/sms.events.js';
import { ReminderScheduler } from '../src/appointments/reminder.scheduler.js';
import { AppointmentsService } from '../src/appointments/appointments.service.js';
import { Clock } from '../src/common/clock.js';
import { DomainEventRelay } from '../src/events/domain-event-relay.js';
import { Role } from '../src/users/role.enum.js';
import { describeEachDatabase } from './support/databases.js';
import { TestApp, twilioEnvironment } from './support/test-app.js';
import { testTwilioCredentials, TWILIO_MAGIC_NUMBERS, TwilioStandIn } from './support/twilio-stand-in.js';

const HOUR = 3_600_000;
const inHours = (hours: number) => new Date(Date.now() + hours * HOUR).toISOString();

describeEachDatabase('Appointments', (kind) => {
  const credentials = testTwilioCredentials();
  let standIn: TwilioStandIn;
  let t: TestApp;
  let admin: string;
  let adminEmail: string;
  const auth = () => ({ Authorization: `Bearer ${admin}` });
  const create = async (body: Record<string, unknown> = {}) =>
    (
      await t.http
        .post('/api/appointments')
        .set(auth())
        .send({ clientName: 'Jean Dupont', clientPhone: '06 12 34 56 78', startsAt: inHours(72), ...body })
        .expect(201)
    ).body;

  beforeAll(async () => {
    standIn = await TwilioStandIn.start(credentials);
    // One attempt: a Twilio failure is final at once (retries are the dispatcher's own suite).
    t = await TestApp.start(kind, { ...twilioEnvironment(standIn, credentials.authToken), SMS_MAX_ATTEMPTS: '1' });
    const a = await t.userWithRole(Role.Admin);
    admin = a.token;
    adminEmail = a.email;
  });
  afterAll(async () => {
    await t?.close();
    await standIn?.stop();
  });
  beforeEach(() => standIn.reset());
  afterEach(() => vi.restoreAllMocks());

  it('creates a pending appointment with a normalised phone', async () => {
    const startsAt = inHours(48);
    const created = await create({ startsAt, location: 'Cabinet Paris 11e', durationMinutes: 45 });
    expect(created).toMatchObject({
      id: expect.any(String),
      clientName: 'Jean Dupont',
      clientPhone: '+33612345678',
      clientLocale: 'fr',
      startsAt,
      durationMinutes: 45,
      location: 'Cabinet Paris 11e',
      status: 'pending',
      reminderDueAt: null,
    });
    expect(standIn.requests).toHaveLength(0);
  });

  it('refuses a start in the past, a bad phone and a bad date with 400 naming the field', async () => {
    const past = await t.http
      .post('/api/appointments')
      .set(auth())
      .send({ clientName: 'A', clientPhone: '0612345678', startsAt: inHours(-1) })
      .expect(400);
    expect(past.body.details[0].field).toBe('startsAt');
    const phone = await t.http
      .post('/api/appointments')
      .set(auth())
      .send({ clientName: 'A', clientPhone: '0612', startsAt: inHours(5) })
      .expect(400);
    expect(phone.body.details[0].field).toBe('clientPhone');
    const date = await t.http
      .post('/api/appointments')
      .set(auth())
      .send({ clientName: 'A', clientPhone: '0612345678', startsAt: 'demain' })
      .expect(400);
    expect(date.body.message).toMatch(/startsAt must be an ISO 8601/);
  });

  it('refuses a client name of nothing visible (its SMS could not be written), on creation and on an edit', async () => {
    const invisible = await t.http
      .post('/api/appointments')
      .set(auth())
      .send({ clientName: '\u200b\u200e', clientPhone: '0612345678', startsAt: inHours(48) })
      .expect(400);
    expect(invisible.body.details).toEqual([
      { field: 'clientName', problems: ['clientName must not be empty (it holds only invisible or control characters)'] },
    ]);
    const appointment = await create();
    const edit = await t.http.patch(`/api/appointments/${appointment.id}`).set(auth()).send({ clientName: '\u00ad' }).expect(400);
    expect(edit.body.details[0].field).toBe('clientName');
    expect((await t.http.get(`/api/appointments/${appointment.id}`).set(auth()).expect(200)).body.clientName).toBe('Jean Dupont');
  });

  it('confirm texts the client, journals the send with the acting user, and shows the SMS on the appointment', async () => {
    const appointment = await create({ startsAt: '2030-01-15T13:30:00Z' });
    const res = await t.http.post(`/api/appointments/${appointment.id}/confirm`).set(auth()).expect(200);
    expect(res.body.status).toBe('confirmed');
    // The SMS leaves when the relay delivers the committed event.
    await t.settle();
    expect(standIn.requests).toHaveLength(1);
    expect(standIn.requests[0].form.To).toBe('+33612345678');
    expect(standIn.requests[0].form.Body).toMatch(/Jean Dupont.*mardi 15 janvier 2030.*14:30.*confirm/);

    const details = await t.http.get(`/api/appointments/${appointment.id}`).set(auth()).expect(200);
    expect(details.body.messages).toEqual([
      expect.objectContaining({ type: 'appointment_confirmed', status: 'queued', sid: expect.stringMatching(/^SM/) }),
    ]);
    const audit = await t.http.get('/api/audit?action=send_notification_sms&limit=1').set(auth()).expect(200);
    expect(audit.body.items[0]).toMatchObject({
      actorEmail: adminEmail,
      targetType: 'appointment',
      targetId: appointment.id,
      metadata: { type: 'appointment_confirmed' },
    });
  });

  it('writes the SMS in the client locale', async () => {
    const appointment = await create({ startsAt: '2030-01-15T13:30:00Z', clientLocale: 'en' });
    await t.http.post(`/api/appointments/${appointment.id}/confirm`).set(auth()).expect(200);
    await t.settle();
    expect(standIn.requests[0].form.Body).toMatch(/Tuesday, January 15, 2030.*2:30 PM/);
  });

  it('cancel texts the client with the reason; impossible transitions answer 409 with the current status', async () => {
    const appointment = await create();
    await t.http.post(`/api/appointments/${appointment.id}/confirm`).set(auth()).expect(200);
    await t.settle();
    const again = await t.http.post(`/api/appointments/${appointment.id}/confirm`).set(auth()).expect(409);
    expect(again.body).toMatchObject({ statusCode: 409, currentStatus: 'confirmed' });
    standIn.reset();
    const cancelled = await t.http
      .post(`/api/appointments/${appointment.id}/cancel`)
      .set(auth())
      .send({ reason: 'Conseiller absent' })
      .expect(200);
    expect(cancelled.body).toMatchObject({ status: 'cancelled', cancelReason: 'Conseiller absent', reminderDueAt: null });
    await t.settle();
    expect(standIn.requests).toHaveLength(1);
    expect(standIn.requests[0].form.Body).toMatch(/annul.*Conseiller absent/s);
    const twice = await t.http.post(`/api/appointments/${appointment.id}/cancel`).set(auth()).send({}).expect(409);
    expect(twice.body.currentStatus).toBe('cancelled');
    await t.http.post(`/api/appointments/${appointment.id}/confirm`).set(auth()).expect(409);
    await t.http.patch(`/api/appointments/${appointment.id}`).set(auth()).send({ notes: 'x' }).expect(409);
    await t.settle();
    expect(standIn.requests).toHaveLength(1);
  });

  it('cancels an appointment confirmed while the cancel was under way (it had read "pending"): 200, not a false 409', async () => {
    const appointment = await create({ clientPhone: '0612345641' });
    const service = t.get(AppointmentsService);
    const read = service.get.bind(service);
    let cancelHasRead!: () => void;
    const readByCancel = new Promise<void>((resolve) => (cancelHasRead = resolve));
    let release!: () => void;
    const hold = new Promise<void>((resolve) => (release = resolve));
    // The cancel reads the appointment (pending), then is held there while a confirm commits.
    vi.spyOn(service, 'get').mockImplementationOnce(async (id: string) => {
      const row = await read(id);
      cancelHasRead();
      await hold;
      return row;
    });
    const cancelling = t.http
      .post(`/api/appointments/${appointment.id}/cancel`)
      .set(auth())
      .send({ reason: 'Client malade' })
      .then((res) => res);
    await readByCancel;
    await t.http.post(`/api/appointments/${appointment.id}/confirm`).set(auth()).expect(200);
    release();
    const res = await cancelling;
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ status: 'cancelled', cancelReason: 'Client malade', reminderDueAt: null });
    const journal = await t.http.get(`/api/audit?action=appointment_cancelled&limit=1`).set(auth()).expect(200);
    expect(journal.body.items[0]).toMatchObject({ targetId: appointment.id, metadata: { previousStatus: 'confirmed' } });
    await t.settle();
    // The client's last text says "cancelled" (the confirmation, had it not left yet, is dropped).
    const texts = standIn.requests.filter((r) => r.form.To === '+33612345641').map((r) => String(r.form.Body));
    expect(texts.at(-1)).toMatch(/annul.*Client malade/s);
  });

  it('refuses to confirm an appointment whose start has passed', async () => {
    const appointment = await create({ startsAt: inHours(1) });
    vi.spyOn(t.get(Clock), 'now').mockReturnValue(new Date(Date.now() + 2 * HOUR));
    const res = await t.http.post(`/api/appointments/${appointment.id}/confirm`).set(auth()).expect(409);
    expect(res.body).toMatchObject({ currentStatus: 'pending', message: expect.stringMatching(/past/) });
  });

  it('cancels an appointment whose start has passed without texting the client', async () => {
    const appointment = await create({ startsAt: inHours(1) });
    standIn.reset();
    vi.spyOn(t.get(Clock), 'now').mockReturnValue(new Date(Date.now() + 2 * HOUR));
    const res = await t.http.post(`/api/appointments/${appointment.id}/cancel`).set(auth()).send({}).expect(200);
    expect(res.body.status).toBe('cancelled');
    await t.settle();
    expect(standIn.requests).toHaveLength(0);
    const details = await t.http.get(`/api/appointments/${appointment.id}`).set(auth()).expect(200);
    expect(details.body.messages).toEqual([]);
  });

  it('marks an appointment done once its start has passed, without texting; not before, and only once', async () => {
    const appointment = await create({ startsAt: inHours(1) });
    await t.http.post(`/api/appointments/${appointment.id}/confirm`).set(auth()).expect(200);
    await t.settle();
    const early = await t.http.post(`/api/appointments/${appointment.id}/complete`).set(auth()).expect(409);
    expect(early.body).toMatchObject({ message: expect.stringMatching(/not started yet/), currentStatus: 'confirmed' });
    standIn.reset();
    vi.spyOn(t.get(Clock), 'now').mockReturnValue(new Date(Date.now() + 2 * HOUR));
    const done = await t.http.post(`/api/appointments/${appointment.id}/complete`).set(auth()).expect(200);
    expect(done.body).toMatchObject({ status: 'completed', reminderDueAt: null });
    await t.settle();
    expect(standIn.requests).toHaveLength(0);
    const again = await t.http.post(`/api/appointments/${appointment.id}/complete`).set(auth()).expect(409);
    expect(again.body.currentStatus).toBe('completed');
    await t.http.post(`/api/appointments/${appointment.id}/cancel`).set(auth()).send({}).expect(409);
    await t.http.patch(`/api/appointments/${appointment.id}`).set(auth()).send({ notes: 'Vu' }).expect(409);
    const listed = await t.http.get('/api/appointments?status=completed').set(auth()).expect(200);
    expect(listed.body.items.map((a: { id: string }) => a.id)).toContain(appointment.id);
    const journal = await t.http.get('/api/audit?action=appointment_completed').set(auth()).expect(200);
    expect(journal.body.items[0]).toMatchObject({ targetId: appointment.id, metadata: { previousStatus: 'confirmed' } });
  });

  it('does not complete an appointment moved to a later time meanwhile (it read the old, past start)', async () => {
    const appointment = await create({ startsAt: inHours(1) });
    await t.http.post(`/api/appointments/${appointment.id}/confirm`).set(auth()).expect(200);
    await t.settle();
    vi.spyOn(t.get(Clock), 'now').mockReturnValue(new Date(Date.now() + 2 * HOUR));
    const service = t.get(AppointmentsService);
    // What `complete` read before a reschedule to the next day committed: the old start, passed.
    const stale = await service.get(appointment.id);
    await t.http
      .patch(`/api/appointments/${appointment.id}`)
      .set(auth())
      .send({ startsAt: inHours(26) })
      .expect(200);
    vi.spyOn(service, 'get').mockResolvedValueOnce(stale);
    const res = await t.http.post(`/api/appointments/${appointment.id}/complete`).set(auth()).expect(409);
    expect(res.body).toMatchObject({ message: expect.stringMatching(/not started yet/), currentStatus: 'confirmed' });
    expect((await t.http.get(`/api/appointments/${appointment.id}`).set(auth()).expect(200)).body.status).toBe('confirmed');
  });

  it('keeps the change when the SMS fails, and records the failure on the appointment', async () => {
    const appointment = await create({ clientPhone: TWILIO_MAGIC_NUMBERS.notMobile });
    const res = await t.http.post(`/api/appointments/${appointment.id}/confirm`).set(auth()).expect(200);
    expect(res.body.status).toBe('confirmed');
    await t.settle();
    const details = await t.http.get(`/api/appointments/${appointment.id}`).set(auth()).expect(200);
    expect(details.body.status).toBe('confirmed');
    expect(details.body.messages).toEqual([
      expect.objectContaining({ type: 'appointment_confirmed', status: 'failed', errorCode: '21614' }),
    ]);

    standIn.setBehaviour({ hang: true });
    const postsBefore = standIn.requests.filter((r) => r.method === 'POST').length;
    const cancelled = await t.http.post(`/api/appointments/${appointment.id}/cancel`).set(auth()).send({}).expect(200);
    expect(cancelled.body.status).toBe('cancelled');
    // The relay only writes the SMS (it is not held by Twilio); the SMS times out, is looked up once more a
    // timeout later (its outcome unknown; never resent), is stored as failed, and shows on the appointment.
    await t.settle();
    let after = await t.http.get(`/api/appointments/${appointment.id}`).set(auth()).expect(200);
    for (let i = 0; i < 100 && after.body.messages.at(-1).status !== 'failed'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      after = await t.http.get(`/api/appointments/${appointment.id}`).set(auth()).expect(200);
    }
    expect(after.body.messages.at(-1)).toMatchObject({ type: 'appointment_cancelled', status: 'failed', errorCode: 'TIMEOUT' });
    expect(standIn.requests.filter((r) => r.method === 'POST')).toHaveLength(postsBefore + 1);
  });

  it("a new number and a new time in one edit: the new number gets the confirmation at the new time, not 'moved'", async () => {
    const appointment = await create({ startsAt: '2030-03-10T09:00:00Z' });
    await t.http.post(`/api/appointments/${appointment.id}/confirm`).set(auth()).expect(200);
    await t.settle();
    standIn.reset();
    await t.http
      .patch(`/api/appointments/${appointment.id}`)
      .set(auth())
      .send({ clientPhone: '0698765432', startsAt: '2030-03-12T09:00:00Z' })
      .expect(200);
    await t.settle();
    expect(standIn.requests.map((r) => [r.form.To, r.form.Body])).toEqual([
      ['+33698765432', expect.stringMatching(/mardi 12 mars 2030.*10:00.*confirm/)],
    ]);
  });

  it('reschedules: texts a confirmed client and moves the reminder; a pending one is moved silently', async () => {
    const appointment = await create({ startsAt: '2030-03-10T09:00:00Z' });
    await t.http.post(`/api/appointments/${appointment.id}/confirm`).set(auth()).expect(200);
    await t.settle();
    standIn.reset();
    const moved = await t.http
      .patch(`/api/appointments/${appointment.id}`)
      .set(auth())
      .send({ startsAt: '2030-03-12T09:00:00Z' })
      .expect(200);
    expect(moved.body.reminderDueAt).toBe('2030-03-11T09:00:00.000Z');
    await t.settle();
    expect(standIn.requests).toHaveLength(1);
    expect(standIn.requests[0].form.Body).toMatch(/mardi 12 mars 2030.*10:00/);

    const pending = await create({ startsAt: '2030-03-10T09:00:00Z' });
    standIn.reset();
    await t.http.patch(`/api/appointments/${pending.id}`).set(auth()).send({ startsAt: '2030-03-11T09:00:00Z' }).expect(200);
    await t.settle();
    expect(standIn.requests).toHaveLength(0);
    await t.http
      .patch(`/api/appointments/${pending.id}`)
      .set(auth())
      .send({ startsAt: inHours(-3) })
      .expect(400);
  });

  it('journals only the fields a PATCH really changed; one that changes nothing journals nothing', async () => {
    const appointment = await create({ notes: 'Premier rendez-vous' });
    const entries = async () =>
      (await t.http.get('/api/audit?action=appointment_updated&limit=200').set(auth()).expect(200)).body.items.filter(
        (e: { targetId: string }) => e.targetId === appointment.id,
      );
    await t.http
      .patch(`/api/appointments/${appointment.id}`)
      .set(auth())
      .send({ clientName: 'Jean Dupont', clientPhone: '+33612345678', notes: 'Apporter la carte Vitale' })
      .expect(200);
    const [entry] = await entries();
    expect(entry.metadata.changed).toEqual(['notes']);
    await t.http
      .patch(`/api/appointments/${appointment.id}`)
      .set(auth())
      .send({ clientName: 'Jean Dupont', notes: 'Apporter la carte Vitale' })
      .expect(200);
    expect(await entries()).toHaveLength(1);
  });

  it('keeps the reminder on the final start time when a confirm races a reschedule', async () => {
    // Twelve appointments, each confirmed and rescheduled at the same moment (in both orders), all at once.
    const trials = await Promise.all(
      Array.from({ length: 12 }, async (_, trial) => {
        const day = String(trial + 1).padStart(2, '0');
        return { trial, appointment: await create({ startsAt: `2032-01-${day}T09:00:00Z` }), movedTo: `2032-02-${day}T15:00:00.000Z` };
      }),
    );
    await Promise.all(
      trials.map(async ({ trial, appointment, movedTo }) => {
        const confirm = () => t.http.post(`/api/appointments/${appointment.id}/confirm`).set(auth());
        const reschedule = () => t.http.patch(`/api/appointments/${appointment.id}`).set(auth()).send({ startsAt: movedTo });
        const answers = await Promise.all(trial % 2 ? [confirm(), reschedule()] : [reschedule(), confirm()]);
        expect(answers.map((r) => r.status)).toEqual([200, 200]);
      }),
    );
    for (const { appointment, movedTo } of trials) {
      const { body } = await t.http.get(`/api/appointments/${appointment.id}`).set(auth()).expect(200);
      expect(body.status).toBe('confirmed');
      expect(body.startsAt).toBe(movedTo);
      // REMINDER_LEAD_HOURS (24) before the final start; the tests run without quiet hours.
      expect(body.reminderDueAt).toBe(new Date(Date.parse(movedTo) - 24 * HOUR).toISOString());
    }
  });

  it('texts a client once when the same reschedule is sent several times at once; different times at once end on one of them, told last', async () => {
    // Six confirmed appointments, each moved by four identical PATCHes sent together.
    const appointments = await Promise.all(
      Array.from({ length: 6 }, (_, i) => create({ clientPhone: `0611223${String(300 + i)}`, startsAt: `2033-03-0${i + 1}T09:00:00Z` })),
    );
    for (const appointment of appointments) await t.http.post(`/api/appointments/${appointment.id}/confirm`).set(auth()).expect(200);
    await t.settle();
    standIn.reset();
    const patch = (id: string, startsAt: string) => t.http.patch(`/api/appointments/${id}`).set(auth()).send({ startsAt });
    await Promise.all(
      appointments.map(async (appointment, i) => {
        const answers = await Promise.all([1, 2, 3, 4].map(() => patch(appointment.id, `2033-04-0${i + 1}T14:00:00Z`)));
        expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 200]);
        for (const answer of answers) expect(answer.body.startsAt).toBe(`2033-04-0${i + 1}T14:00:00.000Z`);
      }),
    );
    await t.settle();
    const updates = (await t.http.get('/api/audit?action=appointment_updated&limit=200').set(auth()).expect(200)).body.items;
    for (const appointment of appointments) {
      const texts = standIn.requests.filter((r) => r.form.To === appointment.clientPhone);
      expect(texts).toHaveLength(1);
      // Its confirmation had left: the client is told it moved.
      expect(String(texts[0].form.Body)).toMatch(/a été déplacé au/);
      const entries = updates.filter((e: { targetId: string }) => e.targetId === appointment.id);
      expect(entries).toHaveLength(1);
      expect(entries[0].metadata.previousStartsAt).toBe(appointment.startsAt);
    }

    // Two different new times at once: both apply, one after the other; the client's last text is the final time
    // (the first move's SMS, if it had not left when the second move came, is dropped: it quotes a time now gone).
    const raced = appointments[0];
    standIn.reset();
    const answers = await Promise.all([patch(raced.id, '2033-05-01T08:00:00Z'), patch(raced.id, '2033-05-02T08:00:00Z')]);
    expect(answers.map((r) => r.status)).toEqual([200, 200]);
    await t.settle();
    const final = (await t.http.get(`/api/appointments/${raced.id}`).set(auth()).expect(200)).body;
    const texts = standIn.requests.filter((r) => r.form.To === raced.clientPhone).map((r) => String(r.form.Body));
    expect(texts.length).toBeGreaterThanOrEqual(1);
    expect(texts.length).toBeLessThanOrEqual(2);
    expect(texts.at(-1)).toMatch(final.startsAt.startsWith('2033-05-01') ? /1er mai 2033/ : /2 mai 2033/);
  });

  it('lists by status, start range and phone', async () => {
    const a = await create({ startsAt: '2031-05-01T10:00:00Z', clientPhone: '0699999999' });
    await create({ startsAt: '2031-05-02T10:00:00Z', clientPhone: '0699999999' });
    await t.http.post(`/api/appointments/${a.id}/confirm`).set(auth()).expect(200);
    const byPhone = await t.http.get('/api/appointments?phone=06 99 99 99 99').set(auth()).expect(200);
    expect(byPhone.body.total).toBe(2);
    const confirmed = await t.http.get('/api/appointments?phone=0699999999&status=confirmed').set(auth()).expect(200);
    expect(confirmed.body.items.map((x: { id: string }) => x.id)).toEqual([a.id]);
    const range = await t.http.get('/api/appointments?from=2031-05-02T00:00:00Z&to=2031-05-03T00:00:00Z').set(auth()).expect(200);
    expect(range.body.items.every((x: { startsAt: string }) => x.startsAt.startsWith('2031-05-02'))).toBe(true);
    await t.http.get('/api/appointments?status=lost').set(auth()).expect(400);
  });

  it('is for admins only', async () => {
    const user = await t.userWithRole(Role.User);
    await t.http.get('/api/appointments').set('Authorization', `Bearer ${user.token}`).expect(403);
    await t.http.post('/api/appointments').send({}).expect(401);
  });
});

describeEachDatabase('Appointment reminders', (kind) => {
  const credentials = testTwilioCredentials();
  let standIn: TwilioStandIn;
  let a: TestApp;
  let b: TestApp;
  let admin: string;
  const auth = () => ({ Authorization: `Bearer ${admin}` });
  const env = () => ({ ...twilioEnvironment(standIn, credentials.authToken), QUIET_HOURS: '21:00-08:00', REMINDER_LEAD_HOURS: '24' });
  const reminders = () => standIn.requests.filter((r) => /rappel/i.test(String(r.form.Body ?? '')));
  /** Both instances' clocks at this instant. */
  const setNow = (iso: string) => {
    for (const app of [a, b]) vi.spyOn(app.get(Clock), 'now').mockReturnValue(new Date(iso));
  };
  /** Every instance's relay has delivered what is due (the SMS the events ask for included). */
  const settle = async (...more: TestApp[]) => {
    await Promise.all([a, b, ...more].map((app) => app.settle()));
  };
  /** Scans on these instances at once, then lets the relays deliver the reminders claimed. */
  const scan = async (...apps: TestApp[]) => {
    const results = await Promise.all((apps.length ? apps : [a]).map((app) => app.get(ReminderScheduler).scan()));
    await settle(...apps);
    return results[0];
  };
  const confirmed = async (startsAt: string, phone = '0612345678') => {
    const created = (
      await a.http.post('/api/appointments').set(auth()).send({ clientName: 'Jean Dupont', clientPhone: phone, startsAt }).expect(201)
    ).body;
    const body = (await a.http.post(`/api/appointments/${created.id}/confirm`).set(auth()).expect(200)).body;
    await settle();
    return body;
  };

  /** Waits until Twilio has been asked `n` times in all. */
  const posted = async (n: number) => {
    for (let i = 0; i < 200 && standIn.createTimes.length < n; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(standIn.createTimes).toHaveLength(n);
  };
  /** An appointment confirmed on 2030-10-01 whose confirmation Twilio refused with 429: it waits 2 s for its retry. */
  const confirmedWhileTwilioRefuses = async (phone: string) => {
    setNow('2030-10-01T10:00:00Z');
    standIn.reset();
    standIn.setBehaviour({ failFirst: 1, failStatus: 429, retryAfterSeconds: 2 });
    const created = (
      await a.http
        .post('/api/appointments')
        .set(auth())
        .send({ clientName: 'Jean Dupont', clientPhone: phone, startsAt: '2030-10-05T10:00:00Z' })
        .expect(201)
    ).body;
    await a.http.post(`/api/appointments/${created.id}/confirm`).set(auth()).expect(200);
    await Promise.all([a, b].map((app) => app.get(DomainEventRelay).drain()));
    await posted(1);
    return created;
  };
  /** At `at`, a scan claims the reminders due; Twilio refuses the first with 429: its retry comes 1 s later. */
  const scanWhileTwilioRefusesOnce = async (at: string, delayMs = 0) => {
    standIn.setBehaviour({ delayMs, failFirst: 1, failStatus: 429, retryAfterSeconds: 1 });
    setNow(at);
    await a.get(ReminderScheduler).scan();
    await Promise.all([a, b].map((app) => app.get(DomainEventRelay).drain()));
    await posted(1);
  };

  beforeAll(async () => {
    standIn = await TwilioStandIn.start(credentials);
    a = await TestApp.start(kind, env());
    // A second instance of the service on the same database.
    b = await TestApp.start(kind, env(), a.db);
    admin = await a.rootToken();
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
    await standIn?.stop();
  });
  beforeEach(() => standIn.reset());
  afterEach(() => vi.restoreAllMocks());

  it('sends due reminders exactly once with two instances scanning at the same time', async () => {
    setNow('2030-06-01T10:00:00Z');
    const due = await Promise.all([1, 2, 3, 4, 5].map((i) => confirmed(`2030-06-02T0${i}:00:00Z`, `06123456${10 + i}`)));
    standIn.reset();
    // 20:56 in Paris: the appointments (03:00-07:00 the next morning) have their reminders due just before that
    // evening's quiet hours (ReminderPolicy), not at once.
    setNow('2030-06-01T18:54:00Z');
    expect((await scan(a, b)).claimed).toBe(0);
    setNow('2030-06-01T18:56:00Z');
    await scan(a, b, a, b);
    await scan(a, b);
    expect(
      reminders()
        .map((r) => r.form.To)
        .sort(),
    ).toEqual(due.map((d) => d.clientPhone).sort());
    const details = await a.http.get(`/api/appointments/${due[0].id}`).set(auth()).expect(200);
    // Set when the SMS went (Twilio's answer), not when the reminder was claimed.
    expect(details.body).toMatchObject({ reminderDueAt: null, reminderSentAt: expect.any(String) });
    expect(details.body.messages.map((m: { type: string }) => m.type)).toEqual(['appointment_confirmed', 'appointment_reminder']);
    const audit = await a.http.get('/api/audit?action=send_notification_sms&limit=1').set(auth()).expect(200);
    expect(audit.body.items[0]).toMatchObject({ actorId: null, metadata: { type: 'appointment_reminder' } });
  });

  it('waits until REMINDER_LEAD_HOURS before the start, and follows a reschedule', async () => {
    setNow('2030-07-01T10:00:00Z');
    const appt = await confirmed('2030-07-05T10:00:00Z');
    expect(appt.reminderDueAt).toBe('2030-07-04T10:00:00.000Z');
    standIn.reset();
    setNow('2030-07-04T09:59:00Z');
    await scan();
    expect(reminders()).toHaveLength(0);
    await a.http.patch(`/api/appointments/${appt.id}`).set(auth()).send({ startsAt: '2030-07-06T10:00:00Z' }).expect(200);
    setNow('2030-07-04T10:01:00Z');
    await scan();
    expect(reminders()).toHaveLength(0);
    setNow('2030-07-05T10:00:00Z');
    await scan();
    expect(reminders()).toHaveLength(1);
    expect(reminders()[0].form.Body).toMatch(/samedi 6 juillet 2030/);
  });

  it('sends nothing for cancelled or unconfirmed appointments', async () => {
    setNow('2030-08-01T10:00:00Z');
    const cancelledOne = await confirmed('2030-08-02T09:00:00Z');
    await a.http.post(`/api/appointments/${cancelledOne.id}/cancel`).set(auth()).send({}).expect(200);
    await a.http
      .post('/api/appointments')
      .set(auth())
      .send({ clientName: 'Pending', clientPhone: '0612345600', startsAt: '2030-08-02T09:00:00Z' })
      .expect(201);
    standIn.reset();
    setNow('2030-08-01T12:00:00Z');
    await scan();
    expect(reminders()).toHaveLength(0);
  });

  it('moves a reminder that would fall in quiet hours to their nearer side, and never sends during them', async () => {
    setNow('2030-01-10T10:00:00Z');
    // 06:30 in Paris: 24 hours before is 06:30 the day before, inside 21:00-08:00, so 08:00 that day when they end
    // (not 20:55 the evening before that, 34 hours ahead).
    const early = await confirmed('2030-01-15T05:30:00Z');
    expect(early.reminderDueAt).toBe('2030-01-14T07:00:00.000Z');
    // 21:30 in Paris: 21:30 the day before is just after they begin, so 20:55 that evening.
    const late = await confirmed('2030-01-15T20:30:00Z', '0612345676');
    expect(late.reminderDueAt).toBe('2030-01-14T19:55:00.000Z');
    standIn.reset();
    setNow('2030-01-14T06:59:00Z'); // 07:59 in Paris
    expect((await scan()).skippedForQuietHours).toBe(true);
    setNow('2030-01-14T07:00:30Z'); // 08:00:30 in Paris
    await scan();
    expect(reminders().map((r) => r.form.To)).toEqual([early.clientPhone]);
    setNow('2030-01-14T19:56:00Z'); // 20:56 in Paris
    await scan();
    expect(reminders().map((r) => r.form.To)).toEqual([early.clientPhone, late.clientPhone]);

    // Due while the service was down, back during quiet hours: waits for them to end.
    setNow('2030-02-01T10:00:00Z');
    await confirmed('2030-02-03T10:00:00Z');
    standIn.reset();
    setNow('2030-02-02T22:00:00Z'); // 23:00 in Paris
    expect((await scan()).skippedForQuietHours).toBe(true);
    expect(reminders()).toHaveLength(0);
    setNow('2030-02-03T07:01:00Z'); // 08:01 in Paris
    await scan();
    expect(reminders()).toHaveLength(1);
  });

  it('confirmed late, at night, for an evening appointment in quiet hours: the reminder when the night ends, not minutes ahead', async () => {
    // Confirmed at 22:00 in Paris for 21:30 the next evening (less than 24 hours ahead): 08:00, not 20:55.
    setNow('2030-01-20T21:00:00Z');
    const appointment = await confirmed('2030-01-21T20:30:00Z', '0612345675');
    expect(appointment.reminderDueAt).toBe('2030-01-21T07:00:00.000Z');
    standIn.reset();
    setNow('2030-01-21T07:00:30Z'); // 08:00:30 in Paris
    await scan();
    expect(reminders().map((r) => r.form.To)).toEqual([appointment.clientPhone]);
  });

  it("keeps the client's own night too: an overseas client's reminder is not moved into its night by Paris's quiet hours", async () => {
    setNow('2030-03-01T10:00:00Z');
    // 00:30 in Réunion (UTC+4) is 21:30 in Paris: its reminder, 24 hours ahead, falls just after Paris's quiet hours
    // (21:00-08:00) begin and moves before them; 20:55 in Paris would be 23:55 in Réunion, its night.
    const reunion = await confirmed('2030-03-12T20:30:00Z', '0692 12 34 56');
    expect(reunion.clientPhone).toBe('+262692123456');
    // Before the quiet hours of both: 20:55 in Réunion (16:55 UTC), 17:55 in Paris.
    expect(reunion.reminderDueAt).toBe('2030-03-11T16:55:00.000Z');
    // A metropolitan client at the same time: before Paris's quiet hours only.
    const paris = await confirmed('2030-03-12T20:30:00Z', '0612345677');
    expect(paris.reminderDueAt).toBe('2030-03-11T19:55:00.000Z');
    // 07:00 in Martinique (UTC-4) is 12:00 in Paris: 07:00 the day before is the client's night, which ends at 08:00
    // there (12:00 UTC); a metropolitan client at the same instant is reminded 24 hours before.
    const martinique = await confirmed('2030-03-12T11:00:00Z', '0696 12 34 56');
    expect(martinique).toMatchObject({ clientPhone: '+596696123456', reminderDueAt: '2030-03-11T12:00:00.000Z' });
    const parisMidday = await confirmed('2030-03-12T11:00:00Z', '0612345678');
    expect(parisMidday.reminderDueAt).toBe('2030-03-11T11:00:00.000Z');
    for (const { id } of [reunion, paris, martinique, parisMidday]) {
      await a.http.post(`/api/appointments/${id}/cancel`).set(auth()).send({}).expect(200);
    }
    await settle();
  });

  it("counts a reminder as sent only if it was written for the appointment's current time and number", async () => {
    setNow('2030-06-01T08:00:00Z');
    const appt = await confirmed('2030-06-03T10:00:00Z', '0612345671');
    standIn.reset();
    // The reminder is due; Twilio takes 1 s to answer it (TWILIO_TIMEOUT_MS is 1.5 s here).
    standIn.setBehaviour({ delayMs: 1000 });
    setNow('2030-06-02T10:00:30Z');
    await a.get(ReminderScheduler).scan();
    await Promise.all([a, b].map((app) => app.get(DomainEventRelay).drain()));
    await posted(1);
    // Meanwhile the appointment moves to the same evening, with a number Twilio refuses: its new reminder, due at once, fails.
    await a.http
      .patch(`/api/appointments/${appt.id}`)
      .set(auth())
      .send({ startsAt: '2030-06-02T17:00:00Z', clientPhone: TWILIO_MAGIC_NUMBERS.notMobile })
      .expect(200);
    await scan();
    const details = async () => (await a.http.get(`/api/appointments/${appt.id}`).set(auth()).expect(200)).body;
    await vi.waitFor(
      async () => {
        const types = (await details()).messages.map((m: { type: string; status: string }) => `${m.type}:${m.status}`);
        expect(types.filter((x: string) => x.startsWith('appointment_reminder:'))).toEqual([
          'appointment_reminder:queued',
          'appointment_reminder:failed',
        ]);
      },
      { timeout: 10_000, interval: 100 },
    );
    await settle();
    // The reminder that went was written for the old time and number: the current one failed.
    expect((await details()).reminderSentAt).toBeNull();
  });

  it('drops a reminder whose retry falls in quiet hours (Twilio failed its first attempt just before): not sent at night, a new one when they end', async () => {
    setNow('2030-08-01T10:00:00Z');
    // 20:58 in Paris (UTC+2) the evening before: due just before quiet hours, so not moved.
    const appt = await confirmed('2030-08-02T18:58:00Z', '0612345699');
    expect(appt.reminderDueAt).toBe('2030-08-01T18:58:00.000Z');
    standIn.reset();
    await scanWhileTwilioRefusesOnce('2030-08-01T18:58:30Z');
    // The retry comes a second later, at 21:00:30 in Paris.
    setNow('2030-08-01T19:00:30Z');
    const details = async () => (await a.http.get(`/api/appointments/${appt.id}`).set(auth()).expect(200)).body;
    let reminder: { id: string; status: string } | undefined;
    for (let i = 0; i < 100 && reminder?.status !== 'failed'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      reminder = (await details()).messages.find((m: { type: string }) => m.type === 'appointment_reminder');
    }
    const stored = await a.http.get(`/api/sms/messages/${reminder!.id}`).set(auth()).expect(200);
    expect(stored.body).toMatchObject({
      status: 'failed',
      providerSid: null,
      errorCode: 'QUIET_HOURS',
      errorExplanation: expect.stringMatching(/silence/),
    });
    expect(standIn.createTimes, 'nothing sent during quiet hours').toHaveLength(1);
    // The appointment is still ahead after quiet hours: a new reminder is due when they end (08:00 in Paris).
    await settle();
    expect(await details()).toMatchObject({ reminderSentAt: null, reminderDueAt: '2030-08-02T06:00:00.000Z' });
    setNow('2030-08-02T05:59:00Z');
    await scan();
    expect(standIn.createTimes, 'nothing before the end of quiet hours').toHaveLength(1);
    setNow('2030-08-02T06:00:30Z');
    await a.get(ReminderScheduler).scan();
    // The drop's report delivered again while the new reminder is under way (at least once): it re-arms nothing.
    const drop = (await a.get(DataSource).getRepository(DomainEvent).findBy({ type: SMS_EVENTS.messageUpdated })).find(
      (e) => (e.payload as SmsMessageUpdatedEvent).messageId === reminder!.id,
    )!;
    expect(drop.payload).toMatchObject({ status: 'failed', errorCode: 'QUIET_HOURS' });
    await a.get(ReminderDeliveryListener).onMessageUpdated({ payload: drop.payload as SmsMessageUpdatedEvent });
    await settle();
    for (let i = 0; i < 200 && standIn.messages.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(standIn.messages.map((m) => m.to)).toEqual(['+33612345699']);
    await settle();
    expect((await details()).reminderSentAt, 'set when Twilio took it').not.toBeNull();
    setNow('2030-08-02T06:05:00Z');
    await scan();
    expect(standIn.messages, 'one new reminder, not one per delivery of the report').toHaveLength(1);

    // An appointment that starts before quiet hours end (07:00 in Paris) gets no new reminder.
    standIn.reset();
    setNow('2030-08-01T18:58:00Z');
    const early = await confirmed('2030-08-02T05:00:00Z', '0612345698');
    standIn.reset();
    await scanWhileTwilioRefusesOnce('2030-08-01T18:58:30Z');
    setNow('2030-08-01T19:00:30Z');
    const earlyDetails = async () => (await a.http.get(`/api/appointments/${early.id}`).set(auth()).expect(200)).body;
    let dropped: { status: string } | undefined;
    for (let i = 0; i < 100 && dropped?.status !== 'failed'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      dropped = (await earlyDetails()).messages.find((m: { type: string }) => m.type === 'appointment_reminder');
    }
    expect(dropped?.status).toBe('failed');
    await settle();
    expect(await earlyDetails()).toMatchObject({ reminderSentAt: null, reminderDueAt: null });
    expect(standIn.createTimes).toHaveLength(1);
  });

  it('cancelling an appointment cancels its SMS that have not left: a confirmation waiting for a retry never follows "cancelled"', async () => {
    const created = await confirmedWhileTwilioRefuses('0612345688');
    standIn.setBehaviour({});
    await a.http.post(`/api/appointments/${created.id}/cancel`).set(auth()).send({}).expect(200);
    await settle();
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    const posts = standIn.requests.filter((r) => r.method === 'POST' && r.form.Body !== undefined);
    expect(posts.map((r) => String(r.form.Body))).toEqual([expect.stringMatching(/confirm/i), expect.stringMatching(/annul/i)]);
    expect(standIn.messages).toHaveLength(1);
    const details = await a.http.get(`/api/appointments/${created.id}`).set(auth()).expect(200);
    expect(details.body.messages.map((m: { type: string; status: string }) => [m.type, m.status])).toEqual([
      ['appointment_confirmed', 'cancelled'],
      ['appointment_cancelled', expect.not.stringMatching(/^(cancelled|failed)$/)],
    ]);
  });

  it('moving an appointment cancels its SMS that have not left, and a client whose confirmation never left is sent the confirmation at the new time, not "moved"', async () => {
    const created = await confirmedWhileTwilioRefuses('0612345689');
    // The "moved" SMS is refused once too: it waits while its event is delivered again (below).
    standIn.setBehaviour({ failFirst: 1, failStatus: 429, retryAfterSeconds: 2 });
    setNow('2030-10-01T10:00:01Z');
    await a.http.patch(`/api/appointments/${created.id}`).set(auth()).send({ startsAt: '2030-10-06T15:00:00Z' }).expect(200);
    await Promise.all([a, b].map((app) => app.get(DomainEventRelay).drain()));
    await posted(2);
    // The move delivered again (at least once): its own SMS, written for the appointment as it is, stays. An
    // earlier move (to 6 October 09:00) delivered late: its SMS quotes a time the appointment no longer has.
    const event = (await a.get(DataSource).getRepository(DomainEvent).findBy({ type: APPOINTMENT_EVENTS.rescheduled })).find(
      (e) => (e.payload as AppointmentRescheduledEvent).appointment.id === created.id,
    )!;
    const listener = a.get(AppointmentSmsListener);
    const envelope = { id: event.id, type: event.type, attempt: 2, payload: event.payload as AppointmentRescheduledEvent };
    await listener.onRescheduled(envelope);
    const stale = { ...envelope.payload, appointment: { ...envelope.payload.appointment, startsAt: '2030-10-06T07:00:00.000Z' } };
    await listener.onRescheduled({ ...envelope, id: randomUUID(), payload: stale });
    standIn.setBehaviour({});
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    await settle();
    const sent = standIn.messages.map((m) => String(m.body));
    // The client never had the first confirmation: "moved" would refer to a time they were never told.
    expect(sent, 'neither the confirmation nor the late move quoted a time the appointment no longer has').toEqual([
      expect.stringMatching(/rendez-vous du dimanche 6 octobre 2030 à 17:00 est confirmé/),
    ]);
    const details = await a.http.get(`/api/appointments/${created.id}`).set(auth()).expect(200);
    expect(
      details.body.messages.map((m: { type: string; status: string; errorCode: string | null }) => [m.type, m.status, m.errorCode]),
    ).toEqual([
      ['appointment_confirmed', 'cancelled', expect.anything()],
      ['appointment_confirmed', expect.not.stringMatching(/^(cancelled|failed)$/), null],
      ['appointment_confirmed', 'skipped', 'OUTDATED'],
    ]);
  });

  it('moved away and back (T → T2 → T) while its reminder waits for a retry, both moves committed before the relay delivers them: one reminder', async () => {
    setNow('2030-06-01T08:00:00Z');
    const appt = await confirmed('2030-06-03T10:00:00Z', '0612345603');
    standIn.reset();
    // The reminder is claimed and Twilio refuses it once (429): its retry comes 2 s later.
    standIn.setBehaviour({ failFirst: 1, failStatus: 429, retryAfterSeconds: 2 });
    setNow('2030-06-02T10:00:30Z');
    await a.get(ReminderScheduler).scan();
    await Promise.all([a, b].map((app) => app.get(DomainEventRelay).drain()));
    await posted(1);
    const refusedAt = Date.now();
    // No relay delivers a move before both are committed: the first move's listener would otherwise cancel the
    // waiting reminder (written for another time then) before the second move brings the time back.
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    for (const app of [a, b]) {
      const listener = app.get(AppointmentSmsListener);
      const deliver = listener.onRescheduled.bind(listener);
      vi.spyOn(listener, 'onRescheduled').mockImplementation(async (event) => {
        await gate;
        return deliver(event);
      });
    }
    await a.http.patch(`/api/appointments/${appt.id}`).set(auth()).send({ startsAt: '2030-06-03T12:00:00Z' }).expect(200);
    const back = await a.http.patch(`/api/appointments/${appt.id}`).set(auth()).send({ startsAt: '2030-06-03T10:00:00Z' }).expect(200);
    // The move back armed a new reminder (its lead time is past: at 20:55 in Paris that evening, just before quiet
    // hours, ReminderPolicy.lateConfirmation).
    expect(back.body).toMatchObject({ reminderDueAt: '2030-06-02T18:55:00.000Z', reminderSentAt: null });
    standIn.setBehaviour({});
    open();
    await settle();
    setNow('2030-06-02T18:55:30Z');
    await scan();
    // Past the first reminder's retry: had it been sent, it would be at Twilio by now.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, refusedAt + 3_000 - Date.now())));
    await settle();
    await scan();
    // What Twilio took (its first request, refused with 429, took nothing): one reminder.
    expect(standIn.messages.filter((m) => /rappel/i.test(String(m.body))).map((m) => m.to)).toEqual(['+33612345603']);
    const details = (await a.http.get(`/api/appointments/${appt.id}`).set(auth()).expect(200)).body;
    const sent = details.messages.filter((m: { type: string }) => m.type === 'appointment_reminder');
    expect(sent.map((m: { status: string }) => m.status)).toEqual([expect.stringMatching(/^(cancelled|skipped)$/), expect.any(String)]);
    expect(sent[1].sid).toMatch(/^SM/);
  });

  it('skips an SMS whose appointment moved on while it was being sent or waited for a retry (OUTDATED): cancelled, new number, started, moved', async () => {
    const typesAndStates = async (id: string) =>
      (await a.http.get(`/api/appointments/${id}`).set(auth()).expect(200)).body.messages.map(
        (m: { type: string; status: string; errorCode: string | null }) => [m.type, m.status, m.errorCode],
      );
    // Cancelled while Twilio is answering the confirmation (slowly, with a 429): its retry never follows "cancelled".
    setNow('2030-10-01T10:00:00Z');
    standIn.setBehaviour({ delayMs: 800, failFirst: 1, failStatus: 429, retryAfterSeconds: 1 });
    const cancelled = (
      await a.http
        .post('/api/appointments')
        .set(auth())
        .send({ clientName: 'Jean Dupont', clientPhone: '0612345671', startsAt: '2030-10-05T10:00:00Z' })
        .expect(201)
    ).body;
    await a.http.post(`/api/appointments/${cancelled.id}/confirm`).set(auth()).expect(200);
    await Promise.all([a, b].map((app) => app.get(DomainEventRelay).drain()));
    await posted(1);
    await a.http.post(`/api/appointments/${cancelled.id}/cancel`).set(auth()).send({}).expect(200);
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    await settle();
    expect(standIn.messages.map((m) => String(m.body))).toEqual([expect.stringMatching(/annulé/)]);
    expect(await typesAndStates(cancelled.id)).toEqual([
      ['appointment_confirmed', 'skipped', 'OUTDATED'],
      ['appointment_cancelled', expect.not.stringMatching(/^(cancelled|failed)$/), null],
    ]);

    // A new client number while the confirmation waits for its retry: the old number gets nothing, the new one the
    // confirmation.
    const renumbered = await confirmedWhileTwilioRefuses('0612345672');
    standIn.setBehaviour({});
    await a.http.patch(`/api/appointments/${renumbered.id}`).set(auth()).send({ clientPhone: '0612345673' }).expect(200);
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    await settle();
    expect(standIn.messages.map((m) => [m.to, /confirmé/.test(String(m.body))])).toEqual([['+33612345673', true]]);
    expect(await typesAndStates(renumbered.id)).toEqual([
      ['appointment_confirmed', 'skipped', 'OUTDATED'],
      ['appointment_confirmed', expect.not.stringMatching(/^(cancelled|failed|skipped)$/), null],
    ]);

    /** Confirmed at `now` for `startsAt`; its reminder, claimed at once, refused once by Twilio (429): a retry 1 s later. */
    const reminderRefusedOnce = async (now: string, startsAt: string, phone: string, delayMs = 0) => {
      setNow(now);
      const appointment = await confirmed(startsAt, phone);
      standIn.reset();
      await scanWhileTwilioRefusesOnce(now, delayMs);
      return appointment;
    };

    // A reminder whose retry comes once the appointment has started: skipped, not re-armed.
    const started = await reminderRefusedOnce('2030-12-01T10:00:00Z', '2030-12-01T12:00:00Z', '0612345674');
    setNow('2030-12-01T12:00:30Z');
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    await settle();
    expect(standIn.messages).toEqual([]);
    expect(await typesAndStates(started.id)).toEqual([
      ['appointment_confirmed', expect.not.stringMatching(/^(cancelled|failed)$/), null],
      ['appointment_reminder', 'skipped', 'OUTDATED'],
    ]);
    expect((await a.http.get(`/api/appointments/${started.id}`).set(auth()).expect(200)).body).toMatchObject({ reminderDueAt: null });

    // A reminder waiting for its retry when the client's number changes: skipped, and due again for the new number.
    const renumberedReminder = await reminderRefusedOnce('2030-12-02T10:00:00Z', '2030-12-02T18:00:00Z', '0612345675');
    standIn.setBehaviour({});
    await a.http.patch(`/api/appointments/${renumberedReminder.id}`).set(auth()).send({ clientPhone: '0612345676' }).expect(200);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    await settle();
    const reminderTexts = () => standIn.messages.filter((m) => /rappel/i.test(String(m.body)));
    expect(reminderTexts()).toEqual([]);
    await scan();
    for (let i = 0; i < 200 && reminderTexts().length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(standIn.messages.map((m) => [m.to, /rappel/i.test(String(m.body))])).toEqual([
      ['+33612345676', false], // the confirmation, for the new number
      ['+33612345676', true],
    ]);

    // A reminder being sent when its appointment is moved: skipped (OUTDATED) at its retry; the move armed the new
    // reminder, and the drop's report, even delivered again once that one is claimed, arms no second one.
    const rescheduled = await reminderRefusedOnce('2030-12-03T10:00:00Z', '2030-12-03T18:00:00Z', '0612345677', 800);
    await a.http.patch(`/api/appointments/${rescheduled.id}`).set(auth()).send({ startsAt: '2030-12-04T17:00:00Z' }).expect(200);
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    await settle();
    const [dropped] = (await typesAndStates(rescheduled.id)).filter((m: string[]) => m[0] === 'appointment_reminder');
    expect(dropped).toEqual(['appointment_reminder', 'skipped', 'OUTDATED']);
    const report = (await a.get(DataSource).getRepository(DomainEvent).findBy({ type: SMS_EVENTS.messageUpdated }))
      .map((e) => e.payload as SmsMessageUpdatedEvent)
      .find((p) => p.relatedId === rescheduled.id && p.errorCode === 'OUTDATED')!;
    setNow('2030-12-03T17:00:30Z'); // the new reminder's time (24 hours ahead)
    standIn.setBehaviour({});
    await a.get(ReminderScheduler).scan();
    await a.get(ReminderDeliveryListener).onMessageUpdated({ payload: report });
    await settle();
    setNow('2030-12-03T17:05:00Z');
    await scan();
    expect(standIn.messages.filter((m) => /rappel/i.test(String(m.body)))).toHaveLength(1);
  });

  it('catches up after a restart, unless the appointment has started', async () => {
    setNow('2030-09-01T10:00:00Z');
    const ahead = await confirmed('2030-09-03T12:00:00Z');
    const missed = await confirmed('2030-09-02T12:00:00Z');
    standIn.reset();
    // Instance "a" goes down; a fresh instance starts on the same database later.
    const c = await TestApp.start(kind, env(), a.db);
    try {
      vi.spyOn(c.get(Clock), 'now').mockReturnValue(new Date('2030-09-02T13:00:00Z'));
      const result = await scan(c);
      expect(result).toMatchObject({ claimed: 1, expired: 1 });
      expect(reminders().map((r) => r.form.To)).toEqual([ahead.clientPhone]);
      const dropped = await c.http.get(`/api/appointments/${missed.id}`).set(auth()).expect(200);
      expect(dropped.body).toMatchObject({ reminderDueAt: null, reminderSentAt: null });
    } finally {
      await c.close();
    }
  });

  it('a corrected number gets the reminder again, when the first one already went to the old number', async () => {
    setNow('2030-07-01T10:00:00Z');
    const appointment = await confirmed('2030-07-03T10:00:00Z', '0611111111');
    standIn.reset();
    // The reminder goes out 24 h ahead, to the number typed wrong.
    setNow('2030-07-02T10:00:00Z');
    expect(await scan()).toMatchObject({ claimed: 1 });
    expect(reminders().map((r) => r.form.To)).toEqual(['+33611111111']);
    // Staff correct the number an hour later: the new number gets the confirmation, then the reminder (within the
    // lead: at 20:55 in Paris that evening, ReminderPolicy.lateConfirmation).
    setNow('2030-07-02T11:00:00Z');
    const corrected = await a.http.patch(`/api/appointments/${appointment.id}`).set(auth()).send({ clientPhone: '0622222222' }).expect(200);
    expect(corrected.body).toMatchObject({ reminderDueAt: '2030-07-02T18:55:00.000Z', reminderSentAt: null });
    await settle();
    expect(await scan()).toMatchObject({ claimed: 0 });
    setNow('2030-07-02T18:55:30Z');
    expect(await scan()).toMatchObject({ claimed: 1 });
    expect(reminders().map((r) => r.form.To)).toEqual(['+33611111111', '+33622222222']);
  });

  it("an appointment moved between the scan's read and its claim is reminded at its new time, not dropped as started", async () => {
    setNow('2030-08-01T10:00:00Z');
    const moved = await confirmed('2030-08-02T12:00:00Z');
    standIn.reset();
    // The service comes back after the appointment's start; while its scan holds the row it read, staff move the
    // appointment to the next day at 12:00 (its reminder, within the 24 h lead, due at 08:00 in Paris that morning).
    setNow('2030-08-02T13:00:00Z');
    const scheduler = a.get(ReminderScheduler) as unknown as { claim: (...args: unknown[]) => Promise<boolean> };
    const claim = scheduler.claim.bind(scheduler);
    const spy = vi.spyOn(scheduler, 'claim').mockImplementationOnce(async (...args) => {
      await a.http.patch(`/api/appointments/${moved.id}`).set(auth()).send({ startsAt: '2030-08-03T12:00:00Z' }).expect(200);
      return claim(...args);
    });
    try {
      expect(await scan()).toMatchObject({ claimed: 0, expired: 0 });
      setNow('2030-08-03T06:00:30Z');
      expect(await scan()).toMatchObject({ claimed: 1, expired: 0 });
    } finally {
      spy.mockRestore();
    }
    expect(reminders().map((r) => r.form.To)).toEqual([moved.clientPhone]);
  });

  it('scans by itself on the configured interval', async () => {
    // Every instance at a Monday 10:00 in Paris, the appointment two hours later: its reminder is due at once whatever
    // the hour the suite runs at (at 19:00 in Paris, an appointment two hours ahead starts in quiet hours and its
    // reminder would wait for 20:55; at night, any instance's dispatcher would drop it as quiet hours).
    const now = '2030-09-02T08:00:00Z';
    setNow(now);
    const soon = await confirmed('2030-09-02T10:00:00Z');
    standIn.reset();
    const c = await TestApp.start(
      kind,
      { ...env(), QUIET_HOURS: '', REMINDERS_ENABLED: 'true', REMINDER_SCAN_INTERVAL_SECONDS: '1' },
      a.db,
    );
    try {
      vi.spyOn(c.get(Clock), 'now').mockReturnValue(new Date(now));
      await vi.waitFor(() => expect(reminders().map((r) => r.form.To)).toContain(soon.clientPhone), { timeout: 5000, interval: 100 });
    } finally {
      await c.close();
    }
  });
});
