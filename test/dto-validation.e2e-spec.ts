import { describeEachDatabase } from './support/databases.js';
import { TestApp } from './support/test-app.js';

interface Problem {
  field: string;
  problems: string[];
}

// Each case answered 500, or passed, or gave contradictory messages before the DTO rules were tightened.
describeEachDatabase('DTO validation', (kind) => {
  let t: TestApp;
  let root: string;
  let userId: string;
  let appointmentId: string;
  beforeAll(async () => {
    t = await TestApp.start(kind);
    root = await t.rootToken();
    const user = await t.http
      .post('/api/users')
      .set(auth())
      .send({ email: 'nulls@example.test', password: 'a-long-enough-password', role: 'user', name: 'Nul', phone: '0612345678' })
      .expect(201);
    userId = user.body.id;
    const appointment = await t.http
      .post('/api/appointments')
      .set(auth())
      .send({ clientName: 'Jean Dupont', clientPhone: '0612345678', startsAt: '2030-01-15T13:30:00Z', location: 'Paris', notes: 'x' })
      .expect(201);
    appointmentId = appointment.body.id;
  });
  afterAll(() => t?.close());

  const auth = () => ({ Authorization: `Bearer ${root}` });
  const problemsOf = (body: { details?: Problem[] }, field: string) => (body.details ?? []).filter((d) => d.field === field);

  it.each([
    ['role', /role must be one of/],
    ['password', /password must be a string/],
    ['disabled', /disabled must be true or false/],
  ])('PATCH /api/users/:id {"%s": null} → 400 naming the field', async (field, problem) => {
    const res = await t.http
      .patch(`/api/users/${userId}`)
      .set(auth())
      .send({ [field]: null })
      .expect(400);
    expect(problemsOf(res.body, field)).toEqual([{ field, problems: [expect.stringMatching(problem)] }]);
    expect(res.body.message).toMatch(problem);
  });

  it('PATCH /api/users/:id with null name and phone clears them', async () => {
    const res = await t.http.patch(`/api/users/${userId}`).set(auth()).send({ name: null, phone: null }).expect(200);
    expect(res.body).toMatchObject({ name: null, phone: null });
  });

  it.each([
    ['clientName', /clientName must be a string/],
    ['clientPhone', /clientPhone must be a string/],
    ['durationMinutes', /durationMinutes must be an integer from 5 to 1440/],
    ['clientLocale', /clientLocale must be one of: fr, en/],
    ['startsAt', /startsAt/],
  ])('PATCH /api/appointments/:id {"%s": null} → 400 naming the field', async (field, problem) => {
    const res = await t.http
      .patch(`/api/appointments/${appointmentId}`)
      .set(auth())
      .send({ [field]: null })
      .expect(400);
    expect(problemsOf(res.body, field)).toEqual([{ field, problems: [expect.stringMatching(problem)] }]);
  });

  it('PATCH /api/appointments/:id with null location and notes clears them', async () => {
    const res = await t.http.patch(`/api/appointments/${appointmentId}`).set(auth()).send({ location: null, notes: null }).expect(200);
    expect(res.body).toMatchObject({ location: null, notes: null });
  });

  const LISTINGS = ['/api/users', '/api/audit', '/api/sms/messages', '/api/appointments'];

  it.each(LISTINGS)('%s refuses pages and limits that are not integers in range with 400', async (path) => {
    for (const [query, field] of [
      ['page=1e21', 'page'],
      ['page=100001', 'page'],
      ['page=0', 'page'],
      ['page=1.5', 'page'],
      ['page=abc', 'page'],
      ['limit=1e21', 'limit'],
      ['limit=201', 'limit'],
      ['limit=-1', 'limit'],
    ]) {
      const res = await t.http.get(`${path}?${query}`).set(auth());
      expect(res.status, `${path}?${query}`).toBe(400);
      expect(problemsOf(res.body, field), `${path}?${query}`).toEqual([
        { field, problems: [expect.stringMatching(/must be an integer from 1 to/)] },
      ]);
    }
    const last = await t.http.get(`${path}?page=100000&limit=200`).set(auth()).expect(200);
    expect(last.body).toMatchObject({ items: [], page: 100000, limit: 200 });
  });

  it('refuses recipients that are not an array of objects (an array inside the array included) with one 400 message', async () => {
    const problem = /must be an array of objects such as/;
    for (const [recipients, field] of [
      [[[{ phone: '+33612345678' }]], 'recipients'],
      [null, 'recipients'],
      ['+33612345678', 'recipients'],
      [['+33612345678'], 'recipients.0'],
      [[null], 'recipients.0'],
    ] as const) {
      const res = await t.http.post('/api/sms/bulk').set(auth()).send({ recipients, message: 'Bonjour' });
      expect(res.status, JSON.stringify(recipients)).toBe(400);
      expect(res.body.details, JSON.stringify(recipients)).toEqual([{ field, problems: [expect.stringMatching(problem)] }]);
    }
    const empty = await t.http.post('/api/sms/bulk').set(auth()).send({ recipients: [], message: 'Bonjour' }).expect(400);
    expect(empty.body.details).toEqual([{ field: 'recipients', problems: ['recipients must hold at least one recipient'] }]);
  });

  it('answers one clear problem for a missing, null, blank or too long message', async () => {
    for (const [message, problem] of [
      [undefined, 'message is required'],
      [null, 'message must be a string, not null'],
      [42, 'message must be a string'],
      ['   ', 'message must not be empty'],
      ['x'.repeat(1601), "message must be at most 1600 characters (Twilio's limit)"],
    ] as const) {
      const res = await t.http.post('/api/sms/send').set(auth()).send({ to: '+33612345678', message }).expect(400);
      expect(res.body.details, String(message)).toEqual([{ field: 'message', problems: [problem] }]);
    }
  });

  it('GET /api/sms/templates refuses an unsupported or repeated locale with 400 naming it', async () => {
    for (const [query, message] of [
      ['locale=de', /^Unsupported locale "de"; supported: fr, en$/],
      ['locale=en&locale=fr', /^locale must be given once$/],
    ] as const) {
      const res = await t.http.get(`/api/sms/templates?${query}`).set(auth()).expect(400);
      expect(res.body.message).toMatch(message);
    }
    await t.http.get('/api/sms/templates?locale=en').set(auth()).expect(200);
    // A language tag, as a notification's locale takes it.
    const british = await t.http.get('/api/sms/templates?locale=en-GB').set(auth()).expect(200);
    expect(british.body).toEqual((await t.http.get('/api/sms/templates?locale=en').set(auth()).expect(200)).body);
  });
});
