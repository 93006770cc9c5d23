import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { createTwilioClient, isTwilioRestException, toTwilioFailure } from '../src/sms/twilio/twilio-client.factory.js';
import {
  countSegments,
  STAND_IN_FORM_FIELDS,
  STAND_IN_STATUSES,
  testMessagingServiceSid,
  testTwilioCredentials,
  TWILIO_MAGIC_NUMBER_ERRORS,
  TWILIO_MAGIC_NUMBERS,
  TwilioStandIn,
} from './support/twilio-stand-in.js';

/**
 * The stand-in exercised through the real twilio SDK (createTwilioClient), then
 * checked against Twilio's own OpenAPI description of the 2010-04-01 API.
 */

const creds = testTwilioCredentials();
const FROM = '+15005550006'; // Twilio's "valid From" magic number
const TO = '+14155550123';
const MESSAGES_PATH = `/2010-04-01/Accounts/${creds.accountSid}/Messages.json`;

let standIn: TwilioStandIn;
let client: ReturnType<typeof createTwilioClient>;

beforeAll(async () => {
  standIn = await TwilioStandIn.start(creds);
  client = createTwilioClient({ ...creds, baseUrl: standIn.baseUrl, timeoutMs: 5_000 });
});
afterEach(() => standIn.reset());
afterAll(() => standIn.stop());

/** Untyped JSON (Twilio answers, the OpenAPI document, errors): assertions do the checking. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

/** The rejection of `promise` (fails the test when it resolves). */
async function rejectionOf(promise: Promise<unknown>): Promise<Json> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected the call to fail');
}

/** A raw HTTP call, for what the SDK cannot send (missing To) and for Twilio's raw JSON. */
async function raw(method: string, path: string, form?: Record<string, string>) {
  const auth = Buffer.from(`${creds.accountSid}:${creds.authToken}`).toString('base64');
  const res = await fetch(standIn.baseUrl + path, {
    method,
    headers: {
      Authorization: `Basic ${auth}`,
      ...(form ? { 'Content-Type': 'application/x-www-form-urlencoded' } : {}),
    },
    body: form ? new URLSearchParams(form).toString() : undefined,
  });
  return { status: res.status, headers: res.headers, json: (await res.json()) as Json };
}

describe('Twilio stand-in through the real SDK', () => {
  it('creates a message with From and records the form the SDK sent', async () => {
    const message = await client.messages.create({
      to: TO,
      from: FROM,
      body: 'Your appointment is tomorrow at 10:00',
      statusCallback: 'https://example.test/sms/status',
    });

    expect(message.sid).toMatch(/^SM[0-9a-f]{32}$/);
    expect(message).toMatchObject({
      status: 'queued',
      to: TO,
      from: FROM,
      numSegments: '1',
      direction: 'outbound-api',
    });
    expect(message.accountSid).toBe(creds.accountSid);
    expect(message.messagingServiceSid).toBeNull();
    expect(message.dateCreated).toBeInstanceOf(Date); // the SDK parsed our RFC 2822 date
    expect(Number.isNaN(message.dateCreated.getTime())).toBe(false);

    expect(standIn.requests).toHaveLength(1);
    const [request] = standIn.requests;
    expect(request).toMatchObject({ method: 'POST', path: MESSAGES_PATH });
    expect(request.headers['content-type']).toContain('application/x-www-form-urlencoded');
    expect(request.headers.connection).toBe('keep-alive');
    expect(request.headers['user-agent']).toMatch(/^twilio-node\//);
    expect(request.form).toEqual({
      To: TO,
      From: FROM,
      Body: 'Your appointment is tomorrow at 10:00',
      StatusCallback: 'https://example.test/sms/status',
    });
    expect(standIn.messages.map((m) => m.sid)).toEqual([message.sid]);
  });

  it('answers "accepted" with no From when sent through a Messaging Service', async () => {
    const serviceSid = testMessagingServiceSid();
    const message = await client.messages.create({ to: TO, messagingServiceSid: serviceSid, body: 'hi' });
    expect(message).toMatchObject({ status: 'accepted', from: null, messagingServiceSid: serviceSid });
    expect(standIn.requests[0].form).toEqual({ To: TO, MessagingServiceSid: serviceSid, Body: 'hi' });
  });

  it('counts segments like Twilio (GSM-7 160/153, UCS-2 70/67)', async () => {
    const long = await client.messages.create({ to: TO, from: FROM, body: 'a'.repeat(161) });
    expect(long.numSegments).toBe('2');
    expect([countSegments('a'.repeat(160)), countSegments('a'.repeat(306)), countSegments('a'.repeat(307))]).toEqual([1, 2, 3]);
    expect([countSegments('€'.repeat(80)), countSegments('€'.repeat(81))]).toEqual([1, 2]); // escapes cost 2
    expect([countSegments('é'.repeat(160)), countSegments('ł'.repeat(70)), countSegments('ł'.repeat(71))]).toEqual([1, 1, 2]);
  });

  it('lists messages newest first, filtered by To, following next_page_uri through the rewrite', async () => {
    const other = '+14155550999';
    const first = await client.messages.create({ to: TO, from: FROM, body: 'one' });
    await client.messages.create({ to: other, from: FROM, body: 'two' });
    const third = await client.messages.create({ to: TO, from: FROM, body: 'three' });
    standIn.requests.length = 0;

    const forTo = await client.messages.list({ to: TO });
    expect(forTo.map((m) => m.sid)).toEqual([third.sid, first.sid]);

    const paged = await client.messages.list({ pageSize: 2 });
    expect(paged.map((m) => m.body)).toEqual(['three', 'two', 'one']);
    const pages = standIn.requests.slice(1).map((r) => r.query);
    expect(pages).toEqual([{ PageSize: '2' }, { PageSize: '2', Page: '1' }]);
    expect(standIn.requests.every((r) => r.method === 'GET' && r.path === MESSAGES_PATH)).toBe(true);
  });

  it("answers a creation queued with no date_sent, as Twilio; the message shows sent with its date_sent once Twilio's queue has let it go", async () => {
    standIn.setBehaviour({ queueMs: 400 });
    const created = await client.messages.create({ to: TO, from: FROM, body: 'in the queue' });
    expect(created).toMatchObject({ status: 'queued', dateSent: null });
    // Waiting in Twilio's queue: listed (no filter), fetched, but not found by a DateSent filter (it has no date_sent).
    expect((await client.messages(created.sid).fetch()).status).toBe('queued');
    expect((await client.messages.list({ to: TO })).map((m) => m.sid)).toEqual([created.sid]);
    expect(await client.messages.list({ to: TO, dateSentAfter: new Date(Date.now() - 60_000) })).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 450));
    const sent = await client.messages(created.sid).fetch();
    expect(sent.status).toBe('sent');
    expect(sent.dateSent!.getTime()).toBeGreaterThanOrEqual(created.dateCreated.getTime());
    expect((await client.messages.list({ to: TO, dateSentAfter: new Date(Date.now() - 60_000) })).map((m) => m.sid)).toEqual([created.sid]);
  });

  it('filters the list by DateSent (a day, on or before, on or after), as the SDK sends it', async () => {
    const created = await client.messages.create({ to: TO, from: FROM, body: 'dated' });
    const sentAt = (await client.messages(created.sid).fetch()).dateSent!;
    const after = await client.messages.list({ to: TO, dateSentAfter: new Date(sentAt.getTime() - 60_000) });
    expect(after.map((m) => m.sid)).toEqual([created.sid]);
    expect(await client.messages.list({ to: TO, dateSentAfter: new Date(sentAt.getTime() + 60_000) })).toEqual([]);
    expect(await client.messages.list({ to: TO, dateSentBefore: new Date(sentAt.getTime() - 60_000) })).toEqual([]);
    expect((await client.messages.list({ to: TO, dateSent: sentAt })).map((m) => m.sid)).toEqual([created.sid]);
    const day = sentAt.toISOString().slice(0, 10);
    const byDay = await raw('GET', `${MESSAGES_PATH}?To=${encodeURIComponent(TO)}&DateSent=${day}`);
    expect(byDay.json.messages.map((m: Json) => m.sid)).toEqual([created.sid]);
    const query = standIn.requests.find((r) => r.method === 'GET' && r.query['DateSent>'])!.query;
    expect(query['DateSent>']).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    expect((await raw('GET', `${MESSAGES_PATH}?DateSent%3E=yesterday`)).status).toBe(400);
  });

  it('can take a message and lose the reply (the SDK sees a reset; the message exists)', async () => {
    standIn.setBehaviour({ dropReplyRate: 1 });
    const err = await rejectionOf(client.messages.create({ to: TO, from: FROM, body: 'lost reply' }));
    expect(toTwilioFailure(err)).toMatchObject({ kind: 'lost' });
    expect(standIn.droppedReplies).toBe(1);
    standIn.setBehaviour({});
    expect((await client.messages.list({ to: TO })).map((m) => m.body)).toEqual(['lost reply']);
  });

  it('records the peak of requests in flight and of creations per second', async () => {
    standIn.setBehaviour({ delayMs: 100 });
    await Promise.all(Array.from({ length: 5 }, (_, i) => client.messages.create({ to: TO, from: FROM, body: `p${i}` })));
    expect(standIn.peakInFlight).toBe(5);
    expect(standIn.peakCreatesPerSecond()).toBe(5);
  });

  it('fetches one message, and 404s (20404) an unknown one', async () => {
    const created = await client.messages.create({ to: TO, from: FROM, body: 'fetch me' });
    const fetched = await client.messages(created.sid).fetch();
    expect(fetched).toMatchObject({ sid: created.sid, body: 'fetch me', to: TO });

    const err = await rejectionOf(client.messages('SM' + '0'.repeat(32)).fetch());
    expect(isTwilioRestException(err)).toBe(true);
    expect(err).toMatchObject({ status: 404, code: 20404 });
  });

  it.each(Object.entries(TWILIO_MAGIC_NUMBER_ERRORS))('magic To %s fails with its Twilio code', async (to, spec) => {
    const err = await rejectionOf(client.messages.create({ to, from: FROM, body: 'hi' }));
    expect(isTwilioRestException(err)).toBe(true);
    expect(err).toMatchObject({ status: spec.status, code: spec.code, message: spec.message });
    expect(toTwilioFailure(err)).toEqual({
      kind: 'rejected',
      status: 400,
      code: spec.code,
      message: spec.message,
      moreInfo: `https://www.twilio.com/docs/errors/${spec.code}`,
      retryAfterSeconds: undefined,
    });
    expect(standIn.messages).toHaveLength(0);
  });

  it('exports the magic numbers tests rely on', () => {
    expect(TWILIO_MAGIC_NUMBER_ERRORS[TWILIO_MAGIC_NUMBERS.invalid].code).toBe(21211);
    expect(TWILIO_MAGIC_NUMBER_ERRORS[TWILIO_MAGIC_NUMBERS.unverifiedTrial].code).toBe(21608);
  });

  it('validates like Twilio: 21604, 21603, 21602, 21617', async () => {
    const missingTo = await raw('POST', MESSAGES_PATH, { From: FROM, Body: 'hi' }); // the SDK refuses to send this
    expect(missingTo).toMatchObject({ status: 400, json: { code: 21604, status: 400 } });

    const codeOf = async (params: Parameters<typeof client.messages.create>[0]) => (await rejectionOf(client.messages.create(params))).code;
    expect(await codeOf({ to: TO, body: 'no sender' })).toBe(21603);
    expect(await codeOf({ to: TO, from: FROM })).toBe(21602);
    expect(await codeOf({ to: TO, from: FROM, body: 'x'.repeat(1601) })).toBe(21617);
    await expect(client.messages.create({ to: TO, from: FROM, body: 'x'.repeat(1600) })).resolves.toBeDefined();
  });

  it('rejects bad credentials, a foreign account and authFails with 401 / 20003, without leaking the token', async () => {
    const wrongToken = 'wrong-token-' + 'x'.repeat(20);
    const badClient = createTwilioClient({ ...creds, authToken: wrongToken, baseUrl: standIn.baseUrl });
    const foreign = createTwilioClient({
      accountSid: 'AC' + '0'.repeat(32),
      authToken: creds.authToken,
      baseUrl: standIn.baseUrl,
    });

    const errors = [
      await rejectionOf(badClient.messages.create({ to: TO, from: FROM, body: 'hi' })),
      await rejectionOf(foreign.messages.create({ to: TO, from: FROM, body: 'hi' })),
    ];
    standIn.setBehaviour({ authFails: true });
    errors.push(await rejectionOf(client.messages.create({ to: TO, from: FROM, body: 'hi' })));

    for (const err of errors) {
      const failure = toTwilioFailure(err);
      expect(failure).toMatchObject({ kind: 'rejected', status: 401, code: 20003, message: 'Authenticate' });
      expect(JSON.stringify(failure)).not.toContain(creds.authToken);
      expect(JSON.stringify(failure)).not.toContain(wrongToken);
    }
  });

  it('429 carries code 20429 and the Retry-After value; 503 too', async () => {
    standIn.setBehaviour({ failRate: 1, failStatus: 429, retryAfterSeconds: 7 });
    const tooMany = await rejectionOf(client.messages.create({ to: TO, from: FROM, body: 'hi' }));
    expect(isTwilioRestException(tooMany)).toBe(true);
    expect(toTwilioFailure(tooMany)).toMatchObject({ kind: 'rejected', status: 429, code: 20429, retryAfterSeconds: 7 });

    standIn.setBehaviour({ failRate: 1, failStatus: 503 });
    const unavailable = await rejectionOf(client.messages.create({ to: TO, from: FROM, body: 'hi' }));
    expect(toTwilioFailure(unavailable)).toMatchObject({ status: 503, code: 20503, retryAfterSeconds: 1 });
  });

  it('500 gives code 20500 and no Retry-After', async () => {
    standIn.setBehaviour({ failRate: 1 });
    const err = await rejectionOf(client.messages.create({ to: TO, from: FROM, body: 'hi' }));
    expect(toTwilioFailure(err)).toEqual({
      kind: 'rejected',
      status: 500,
      code: 20500,
      message: 'Internal Server Error',
      moreInfo: 'https://www.twilio.com/docs/errors/20500',
      retryAfterSeconds: undefined,
    });
  });

  it('a hung server is classified as a timeout after timeoutMs', async () => {
    const impatient = createTwilioClient({ ...creds, baseUrl: standIn.baseUrl, timeoutMs: 300 });
    standIn.setBehaviour({ hang: true });
    const started = Date.now();
    const err = await rejectionOf(impatient.messages.create({ to: TO, from: FROM, body: 'hi' }));
    const elapsed = Date.now() - started;

    expect(isTwilioRestException(err)).toBe(false);
    const failure = toTwilioFailure(err);
    expect(failure).toEqual({ kind: 'timeout', message: expect.stringMatching(/timeout/i) });
    expect(JSON.stringify(failure)).not.toContain(creds.authToken);
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(3_000);
    expect(standIn.requests).toHaveLength(1); // it did reach the stand-in
  });

  it('a refused connection is classified as a network failure', async () => {
    const closedPort = await new Promise<number>((resolve) => {
      const probe = http.createServer().listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as { port: number };
        probe.close(() => resolve(port));
      });
    });
    const nowhere = createTwilioClient({ ...creds, baseUrl: `http://127.0.0.1:${closedPort}`, timeoutMs: 1_000 });
    const failure = toTwilioFailure(await rejectionOf(nowhere.messages.create({ to: TO, from: FROM, body: 'hi' })));
    expect(failure).toEqual({ kind: 'network', message: expect.stringContaining('ECONNREFUSED') });
  });

  it('failRate is deterministic: 0.5 fails every 2nd request, 1/3 every 3rd', async () => {
    const outcomes = async (n: number) => {
      const results: string[] = [];
      for (let i = 0; i < n; i++) {
        results.push(
          await client.messages.create({ to: TO, from: FROM, body: `n${i}` }).then(
            () => 'ok',
            () => 'fail',
          ),
        );
      }
      return results.join(',');
    };
    standIn.setBehaviour({ failRate: 0.5 });
    expect(await outcomes(6)).toBe('ok,fail,ok,fail,ok,fail');
    standIn.setBehaviour({ failRate: 1 / 3 }); // resets the counter
    expect(await outcomes(6)).toBe('ok,ok,fail,ok,ok,fail');
    standIn.reset();
    expect(await outcomes(2)).toBe('ok,ok');
    expect(standIn.requests).toHaveLength(2);
  });

  it('keeps connections alive across SDK requests', async () => {
    await client.messages.create({ to: TO, from: FROM, body: 'warm-up' });
    const before = standIn.connectionsAccepted;
    for (let i = 0; i < 5; i++) await client.messages.create({ to: TO, from: FROM, body: `n${i}` });
    expect(standIn.connectionsAccepted).toBe(before);
  });

  it('stop() destroys hung sockets instead of waiting for them', async () => {
    const own = await TwilioStandIn.start(creds);
    own.setBehaviour({ hang: true });
    const pending = new Promise<string>((resolve) => {
      const req = http.request(`${own.baseUrl}${MESSAGES_PATH}`, { method: 'GET' }, () => resolve('answered'));
      req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
      req.end();
    });
    await vi.waitFor(() => expect(own.requests).toHaveLength(1));
    const started = Date.now();
    await own.stop();
    expect(await pending).toBe('ECONNRESET');
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('delayMs delays the answer', async () => {
    standIn.setBehaviour({ delayMs: 150 });
    const started = Date.now();
    await client.messages.create({ to: TO, from: FROM, body: 'slow' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });
});

// ---------------------------------------------------------------------------
// Conformance with Twilio's OpenAPI description (test/fixtures/twilio, MIT, with its LICENSE).

type Schema = Record<string, Json>;
const SPEC_URL = new URL('./fixtures/twilio/twilio_api_v2010.json', import.meta.url);

describe("Twilio stand-in conforms to Twilio's OpenAPI description", () => {
  let spec: Schema;
  const resolve = (node: Schema): Schema => {
    let current = node;
    while (current?.$ref) {
      const path = String(current.$ref).replace(/^#\//, '').split('/');
      current = path.reduce<Schema>((at, key) => at[key.replace(/~1/g, '/').replace(/~0/g, '~')], spec);
    }
    return current;
  };

  /** Problems of `value` against `schema`: exact property set, JSON types, nullability, enums, patterns. */
  const check = (value: unknown, schemaOrRef: Schema, at = '$'): string[] => {
    const schema = resolve(schemaOrRef);
    if (value === null) return schema.nullable ? [] : [`${at}: null but not nullable`];
    const problems: string[] = [];
    const actual = Array.isArray(value) ? 'array' : Number.isInteger(value) ? 'integer' : typeof value;
    const typeOk = schema.type === 'number' ? typeof value === 'number' : actual === schema.type;
    if (schema.type && !typeOk) return [`${at}: ${actual}, schema says ${schema.type}`];
    if (schema.enum && !schema.enum.includes(value)) problems.push(`${at}: ${String(value)} not in enum`);
    if (typeof value === 'string' && schema.pattern && !new RegExp(schema.pattern).test(value)) {
      problems.push(`${at}: ${value} does not match ${schema.pattern}`);
    }
    if (schema.type === 'array') {
      (value as unknown[]).forEach((item, i) => problems.push(...check(item, schema.items, `${at}[${i}]`)));
    }
    if (schema.type === 'object' && schema.properties) {
      const record = value as Record<string, unknown>;
      const declared = Object.keys(schema.properties);
      for (const key of declared) {
        if (!(key in record)) problems.push(`${at}.${key}: missing`);
        else problems.push(...check(record[key], schema.properties[key], `${at}.${key}`));
      }
      for (const key of Object.keys(record)) if (!declared.includes(key)) problems.push(`${at}.${key}: not in schema`);
    }
    return problems;
  };

  const operation = (path: string, method: 'get' | 'post') => spec.paths[path][method];
  const jsonSchemaOf = (op: Schema, status: string) => op.responses[status].content['application/json'].schema;

  beforeAll(() => {
    expect(existsSync(SPEC_URL)).toBe(true);
    spec = JSON.parse(readFileSync(SPEC_URL, 'utf8'));
  });

  it('(a) every form field the stand-in reads is declared by POST …/Messages.json', async () => {
    const op = operation('/2010-04-01/Accounts/{AccountSid}/Messages.json', 'post');
    const form = resolve(op.requestBody.content['application/x-www-form-urlencoded'].schema);
    const declared = Object.keys(form.properties);
    expect(STAND_IN_FORM_FIELDS.filter((field) => !declared.includes(field))).toEqual([]);
    expect(form.required).toEqual(['To']); // the stand-in's 21604

    // and what the SDK actually sends is declared too
    await client.messages.create({
      to: TO,
      from: FROM,
      body: 'hi',
      statusCallback: 'https://example.test/cb',
      mediaUrl: ['https://example.test/a.png'],
    });
    expect(Object.keys(standIn.requests[0].form).filter((field) => !declared.includes(field))).toEqual([]);
  });

  it('(b) a created message has exactly the properties and types of api.v2010.account.message', async () => {
    const op = operation('/2010-04-01/Accounts/{AccountSid}/Messages.json', 'post');
    expect(resolve(jsonSchemaOf(op, '201'))).toBe(spec.components.schemas['api.v2010.account.message']);
    const queued = await raw('POST', MESSAGES_PATH, { To: TO, From: FROM, Body: 'hi' });
    const accepted = await raw('POST', MESSAGES_PATH, {
      To: TO,
      MessagingServiceSid: testMessagingServiceSid(),
      Body: 'hi',
    });
    expect([queued.status, accepted.status]).toEqual([STAND_IN_STATUSES.create, STAND_IN_STATUSES.create]);
    expect(Object.keys(op.responses)).toContain(String(STAND_IN_STATUSES.create));
    expect(check(queued.json, jsonSchemaOf(op, '201'))).toEqual([]);
    expect(check(accepted.json, jsonSchemaOf(op, '201'))).toEqual([]);
    expect(queued.json.date_created).toMatch(/^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000$/);
  });

  it('(c) the list page of GET …/Messages.json and GET …/Messages/{Sid}.json match their schemas', async () => {
    for (const body of ['one', 'two', 'three']) await raw('POST', MESSAGES_PATH, { To: TO, From: FROM, Body: body });
    const list = operation('/2010-04-01/Accounts/{AccountSid}/Messages.json', 'get');
    const declaredQuery = list.parameters.map((p: Schema) => resolve(p).name);
    expect(declaredQuery).toEqual(expect.arrayContaining(['To', 'From', 'DateSent', 'DateSent<', 'DateSent>', 'PageSize', 'Page']));

    const firstPage = await raw('GET', `${MESSAGES_PATH}?To=${encodeURIComponent(TO)}&PageSize=2`);
    expect(firstPage.status).toBe(STAND_IN_STATUSES.list);
    expect(Object.keys(list.responses)).toContain(String(STAND_IN_STATUSES.list));
    expect(check(firstPage.json, jsonSchemaOf(list, '200'))).toEqual([]);
    expect(firstPage.json).toMatchObject({ page: 0, page_size: 2, start: 0, end: 1, previous_page_uri: null });

    const lastPage = await raw('GET', firstPage.json.next_page_uri);
    // A DateSent filter keeps the page shape and is carried into the paging URIs.
    const dated = await raw('GET', `${MESSAGES_PATH}?DateSent%3E=2000-01-01T00:00:00Z&PageSize=2`);
    expect(check(dated.json, jsonSchemaOf(list, '200'))).toEqual([]);
    expect(dated.json.next_page_uri).toContain('DateSent%3E=2000-01-01T00%3A00%3A00Z');
    expect(check(lastPage.json, jsonSchemaOf(list, '200'))).toEqual([]);
    expect(lastPage.json).toMatchObject({ page: 1, start: 2, end: 2, next_page_uri: null });
    expect(lastPage.json.messages.map((m: Schema) => m.body)).toEqual(['one']);

    const fetchOp = operation('/2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json', 'get');
    const one = await raw('GET', lastPage.json.messages[0].uri);
    expect(one.status).toBe(STAND_IN_STATUSES.fetch);
    expect(Object.keys(fetchOp.responses)).toContain(String(STAND_IN_STATUSES.fetch));
    expect(check(one.json, jsonSchemaOf(fetchOp, '200'))).toEqual([]);
  });

  it("(d) error statuses are documented where listed, and error bodies match Twilio's error schema", async () => {
    // The Messages operations document no error responses; where the spec lists any,
    // the stand-in's statuses must be among them. Elsewhere they must be real HTTP statuses.
    const messageOps = [
      operation('/2010-04-01/Accounts/{AccountSid}/Messages.json', 'post'),
      operation('/2010-04-01/Accounts/{AccountSid}/Messages.json', 'get'),
      operation('/2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json', 'get'),
    ];
    for (const op of messageOps) {
      const documented = Object.keys(op.responses)
        .map(Number)
        .filter((status) => status >= 400);
      if (documented.length > 0) expect(documented).toEqual(expect.arrayContaining([...STAND_IN_STATUSES.errors]));
    }
    for (const status of STAND_IN_STATUSES.errors) expect(http.STATUS_CODES[status]).toBeDefined();
    expect(spec.components.securitySchemes.accountSid_authToken).toMatchObject({ type: 'http', scheme: 'basic' }); // hence 401

    // Twilio's error body, as the spec documents it on the operations that list one.
    const errorSchemas = Object.values<Schema>(spec.paths)
      .flatMap((ops) => Object.values<Schema>(ops))
      .flatMap((op) => Object.entries<Schema>(op?.responses ?? {}))
      .filter(([status, response]) => Number(status) >= 400 && response.content?.['application/json'])
      .map(([, response]) => resolve(response.content['application/json'].schema));
    expect(errorSchemas.length).toBeGreaterThan(0);
    const errorSchema = errorSchemas[0];
    expect(Object.keys(errorSchema.properties).sort()).toEqual(['code', 'message', 'more_info', 'status']);

    const errors = [
      await raw('POST', MESSAGES_PATH, { To: TWILIO_MAGIC_NUMBERS.invalid, From: FROM, Body: 'hi' }),
      await raw('GET', `${MESSAGES_PATH.replace('.json', '')}/SM${'0'.repeat(32)}.json`),
      await raw('DELETE', MESSAGES_PATH),
    ];
    standIn.setBehaviour({ authFails: true });
    errors.push(await raw('GET', MESSAGES_PATH));
    for (const failStatus of [429, 500, 503] as const) {
      standIn.setBehaviour({ failRate: 1, failStatus });
      errors.push(await raw('GET', MESSAGES_PATH));
    }
    expect(errors.map((e) => e.status)).toEqual([400, 404, 405, 401, 429, 500, 503]);
    for (const error of errors) {
      expect(STAND_IN_STATUSES.errors).toContain(error.status);
      expect(check(error.json, errorSchema)).toEqual([]);
      expect(error.json.status).toBe(error.status);
      expect(error.json.more_info).toBe(`https://www.twilio.com/docs/errors/${error.json.code}`);
    }
  });
});
