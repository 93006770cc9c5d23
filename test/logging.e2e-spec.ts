import { randomUUID } from 'node:crypto';
import { describeEachDatabase } from './support/databases.js';
import { LogCapture } from './support/log-capture.js';
import { ROOT_PASSWORD, TestApp, twilioEnvironment } from './support/test-app.js';
import { testTwilioCredentials, TWILIO_MAGIC_NUMBERS, TwilioStandIn } from './support/twilio-stand-in.js';

const credentials = testTwilioCredentials();
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
/** Text with every decimal digit written in ASCII (full-width `０`…, Arabic-Indic `٠`…, Persian `۰`…). */
const asciiDigits = (text: string) =>
  text.replace(/\p{Nd}/gu, (digit) => {
    const code = digit.codePointAt(0) ?? 0;
    const zero = [0x30, 0x660, 0x6f0, 0xff10].find((start) => code >= start && code <= start + 9);
    return zero === undefined ? digit : String(code - zero);
  });
const inHours = (hours: number) => new Date(Date.now() + hours * 3_600_000).toISOString().replace(/\.\d{3}Z$/, 'Z');

// One capture for the whole file: Nest's logger for lines outside a request is process-wide, so
// every app of this file writes to the same place; each test reads the lines of its own requests.
const capture = new LogCapture();

describeEachDatabase('Structured logs', (kind) => {
  let standIn: TwilioStandIn;
  let t: TestApp;
  let token: string;

  beforeAll(async () => {
    standIn = await TwilioStandIn.start(credentials);
    t = await TestApp.start(kind, { ...twilioEnvironment(standIn, credentials.authToken), LOG_LEVEL: 'log' }, undefined, {
      logDestination: capture,
    });
    token = await t.rootToken();
  });
  afterAll(async () => {
    await t?.close();
    await standIn?.stop();
  });

  it('writes JSON lines with pino levels, boot lines included', () => {
    const lines = capture.lines;
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(line).toMatchObject({ level: expect.any(Number), time: expect.any(String), msg: expect.any(String) });
    expect(lines.some((line) => line.context === 'SmsModule' && String(line.msg).startsWith('SMS provider: twilio'))).toBe(true);
  });

  it("keeps the caller's X-Request-Id, answers it, and puts it on every line of the request", async () => {
    const requestId = `obs-${kind}-${Date.now()}`;
    const res = await t.http.get('/api/health').set('X-Request-Id', requestId).expect(200);
    expect(res.headers['x-request-id']).toBe(requestId);
    const lines = capture.forRequest(requestId);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 30,
      msg: 'request completed',
      req: { method: 'GET', url: '/api/health', route: '/api/health' },
      res: { statusCode: 200 },
      responseTime: expect.any(Number),
    });
  });

  it.each([
    ['too long', 'x'.repeat(200)],
    ['with spaces', 'two words'],
    ['with a quote', 'a"b'],
  ])('generates a fresh id when the given one is %s', async (_, given) => {
    const res = await t.http.get('/api/health').set('X-Request-Id', given).expect(200);
    expect(res.headers['x-request-id']).toMatch(UUID);
    expect(capture.forRequest(res.headers['x-request-id'])).toHaveLength(1);
    expect(capture.text).not.toContain(given);
  });

  it('generates an id without the header, different per request', async () => {
    const [a, b] = await Promise.all([t.http.get('/api/health'), t.http.get('/api/health')]);
    expect(a.headers['x-request-id']).toMatch(UUID);
    expect(b.headers['x-request-id']).toMatch(UUID);
    expect(a.headers['x-request-id']).not.toBe(b.headers['x-request-id']);
  });

  it('never logs a number in clear, a message body, the Authorization header or a password', async () => {
    capture.clear();
    const body = 'Rendez-vous confirmé, code 481516';
    const send = await t.http
      .post('/api/sms/send')
      .set('Authorization', `Bearer ${token}`)
      .set('Cookie', 'session=cookie-secret-value')
      .send({ to: '06 12 34 56 78', message: body })
      .expect(201);
    const listed = await t.http.get('/api/sms/messages?phone=0612345678&limit=5').set('Authorization', `Bearer ${token}`).expect(200);
    const login = await t.http.post('/api/auth/login').send({ email: 'root@example.test', password: ROOT_PASSWORD }).expect(200);
    const refused = await t.http.post('/api/auth/login').send({ email: 'root@example.test', password: 'wrong-password-0612345678' });
    expect(refused.status).toBe(401);

    for (const res of [send, listed, login, refused]) expect(capture.forRequest(res.headers['x-request-id']).length).toBeGreaterThan(0);
    const text = capture.text;
    for (const secret of ['0612345678', '612345678', '06 12 34 56 78', '12 34 56', body, '481516', token, ROOT_PASSWORD]) {
      expect(text).not.toContain(secret);
    }
    for (const secret of [credentials.authToken, login.body.access_token, 'cookie-secret-value', 'wrong-password']) {
      expect(text).not.toContain(secret);
    }
    // The listing's URL is logged with the number masked.
    const [listLine] = capture.forRequest(listed.headers['x-request-id']);
    expect(listLine.req).toMatchObject({ route: '/api/sms/messages', url: '/api/sms/messages?phone=06******78&limit=5' });
    // An email address in the URL (the journal's actor filter) is masked too.
    const journal = await t.http.get('/api/audit?actor=root%40example.test&limit=5').set('Authorization', `Bearer ${token}`).expect(200);
    const [journalLine] = capture.forRequest(journal.headers['x-request-id']);
    expect(journalLine.req).toMatchObject({ url: '/api/audit?actor=r***@example.test&limit=5' });
    expect(capture.text).not.toContain('root@example.test');
  });

  it.each([
    ['no-break spaces', 'get', '/api/sms/opt-outs?phone=06%C2%A012%C2%A034%C2%A056%C2%A078'],
    ['narrow no-break spaces', 'get', '/api/sms/opt-outs?phone=06%E2%80%AF12%E2%80%AF34%E2%80%AF56%E2%80%AF78'],
    ['full-width digits', 'get', `/api/sms/opt-outs?phone=${encodeURIComponent('０６１２３４５６７８')}`],
    ['Arabic-Indic digits', 'get', `/api/sms/opt-outs?phone=${encodeURIComponent('٠٦١٢٣٤٥٦٧٨')}`],
    ['slashes', 'get', '/api/sms/opt-outs?phone=06/12/34/56/78'],
    ['underscores', 'get', '/api/sms/opt-outs?phone=06_12_34_56_78'],
    ['brackets and dashes', 'get', '/api/sms/opt-outs?phone=(06)%2012-34-56-78'],
    ['the trunk prefix in brackets', 'get', '/api/sms/opt-outs?phone=%2B33+(0)6+12+34+56+78'],
    ['a path segment', 'delete', '/api/sms/opt-outs/0612345678'],
    ['a path segment with %2B', 'delete', '/api/sms/opt-outs/%2B33612345678'],
    ['a path segment with no-break spaces', 'delete', '/api/sms/opt-outs/06%C2%A012%C2%A034%C2%A056%C2%A078'],
    ['a malformed escape after it', 'delete', '/api/sms/opt-outs/06%C2%A012%C2%A034%C2%A056%C2%A078%E0%A4'],
    ['the messages filter', 'get', '/api/sms/messages?phone=06%C2%A012%C2%A034%C2%A056%C2%A078&limit=5'],
    ['a number encoded twice', 'get', '/api/sms/messages?phone=%252B33612345678&limit=5'],
  ] as const)('masks a number written with %s in the logged URL', async (_, method, url) => {
    const requestId = `masked-url-${kind}-${randomUUID()}`;
    await t.http[method](url).set('Authorization', `Bearer ${token}`).set('X-Request-Id', requestId);
    const lines = capture.forRequest(requestId);
    const completed = lines.find((line) => line.msg === 'request completed');
    expect(completed?.req).toMatchObject({ url: expect.stringMatching(/\*\*/) });
    for (const line of lines) {
      // What the service generates itself (time, pid, request id, duration) is left out: it holds digits of its own.
      const written = JSON.stringify({ ...line, time: undefined, pid: undefined, requestId: undefined, responseTime: undefined });
      const digits = asciiDigits(written).replace(/[\s\p{Zs}\p{Cf}\p{Pd}._/()%+]/gu, '');
      for (const number of ['0612345678', '33612345678']) {
        for (let at = 0; at + 5 <= number.length; at++) {
          // The first two and last two digits may stay; no five digits of the number in a row may.
          expect(digits, `${url} logged as ${written}`).not.toContain(number.slice(at, at + 5));
        }
      }
    }
  });

  it("carries the request id on the app's own lines written in a request", async () => {
    // PUBLIC_BASE_URL is unset: the webhook guard refuses and says so in a line of its own.
    const requestId = `webhook-${kind}-${Date.now()}`;
    await t.http.post('/api/sms/webhooks/status').type('form').set('X-Request-Id', requestId).send({ MessageSid: 'SMx' }).expect(403);
    const lines = capture.forRequest(requestId);
    expect(lines.find((line) => line.context === 'TwilioWebhooks')).toMatchObject({
      level: 40,
      msg: expect.stringContaining('PUBLIC_BASE_URL'),
    });
    expect(lines.map((line) => line.msg)).toContain('request completed');
  });

  it("masks the number in Twilio's error text, also in lines written outside a request (the dispatcher)", async () => {
    const created = await t.http
      .post('/api/appointments')
      .set('Authorization', `Bearer ${token}`)
      .send({ clientName: 'Jean Dupont', clientPhone: TWILIO_MAGIC_NUMBERS.invalid, startsAt: inHours(72) })
      .expect(201);
    const requestId = `confirm-${kind}-${Date.now()}`;
    await t.http
      .post(`/api/appointments/${created.body.id}/confirm`)
      .set('Authorization', `Bearer ${token}`)
      .set('X-Request-Id', requestId)
      .expect(200);
    expect(capture.forRequest(requestId).map((line) => line.msg)).toContain('request completed');
    // The confirmation SMS leaves through the event outbox and the dispatcher, after the request: its failure is logged there.
    await t.settle();
    const warning = capture.lines.find((line) => line.context === 'SmsDispatcher' && String(line.msg).includes(created.body.id));
    // Twilio's message names the number ("The 'To' number +15005550001 is not a valid phone number.").
    expect(warning).toMatchObject({ level: 40, msg: expect.stringContaining('+1 5** *** **01') });
    expect(capture.text).not.toContain('5005550001');
    expect(capture.text).not.toContain('500 555 0001');
  });
});

describeEachDatabase('Log lines of the dispatcher', (kind) => {
  let standIn: TwilioStandIn;
  let t: TestApp;
  let token: string;
  const own = new LogCapture();

  beforeAll(async () => {
    standIn = await TwilioStandIn.start(credentials);
    // One sending slot: the second and third sends wait in the queue, claimed by the dispatcher's loop.
    t = await TestApp.start(
      kind,
      { ...twilioEnvironment(standIn, credentials.authToken), LOG_LEVEL: 'log', SMS_MAX_CONCURRENCY: '1' },
      undefined,
      { logDestination: own },
    );
    token = await t.rootToken();
  });
  afterAll(async () => {
    await t?.close();
    await standIn?.stop();
  });

  it("never carries another request's id: a message claimed by the loop is logged outside any request", async () => {
    standIn.setBehaviour({ delayMs: 300 });
    const ids = ['A', 'B', 'C'].map((n) => `queue-${n}-${kind}-${Date.now()}`);
    const answers = await Promise.all(
      ids.map((requestId) =>
        t.http
          .post('/api/sms/send')
          .set('Authorization', `Bearer ${token}`)
          .set('X-Request-Id', requestId)
          .send({ to: TWILIO_MAGIC_NUMBERS.invalid, message: 'Bonjour' })
          .then((r) => r),
      ),
    );
    const messageOf = new Map(answers.map((res, i) => [String(res.body.messageId), ids[i]]));
    expect(messageOf.size).toBe(3);
    const failures = own.lines.filter((line) => line.context === 'SmsDispatcher' && /failed after/.test(String(line.msg)));
    for (const [messageId, requestId] of messageOf) {
      const line = failures.find((l) => String(l.msg).includes(messageId));
      expect(line, messageId).toBeDefined();
      // Its own request's id (sent from its request's slot) or none (claimed by the loop), never another request's.
      expect([requestId, undefined]).toContain(line!.requestId);
    }
    expect(failures.filter((line) => line.requestId === undefined).length).toBeGreaterThanOrEqual(1);
  });
});
