import twilio from 'twilio';
import {
  createTwilioClient,
  isTwilioRestException,
  rewriteTwilioUri,
  toTwilioFailure,
  TWILIO_API_BASE_URL,
} from './twilio-client.factory.js';

// Built at runtime: a literal account SID would trip the secret scanner.
const accountSid = 'AC' + '1'.repeat(32);
const authToken = 'unit-test-token-' + '9'.repeat(16);
const messagesUri = `${TWILIO_API_BASE_URL}/2010-04-01/Accounts/${accountSid}/Messages.json`;

/** Replaces the SDK's transport (RequestClient.request, what our subclass calls as super.request). */
function stubTransport(response: { statusCode: number; body: unknown; headers?: Record<string, string> }) {
  return vi.spyOn(twilio.RequestClient.prototype, 'request').mockResolvedValue({ headers: {}, ...response } as never);
}

const created = {
  sid: 'SM' + '2'.repeat(32),
  account_sid: accountSid,
  status: 'queued',
  to: '+14155550123',
  from: '+15005550006',
  body: 'hi',
};

/** What axios (inside the SDK) rejects with; axios is not a direct dependency, so mimic it. */
function axiosError(message: string, code: string): Error {
  return Object.assign(new Error(message), { name: 'AxiosError', code, isAxiosError: true });
}

afterEach(() => vi.restoreAllMocks());

describe('rewriteTwilioUri', () => {
  it('replaces the Twilio API origin and keeps path and query', () => {
    expect(rewriteTwilioUri(`${messagesUri}?To=%2B1&PageSize=2`, 'http://127.0.0.1:4010')).toBe(
      `http://127.0.0.1:4010/2010-04-01/Accounts/${accountSid}/Messages.json?To=%2B1&PageSize=2`,
    );
  });

  it('keeps a path prefix of the base URL and drops its trailing slash', () => {
    expect(rewriteTwilioUri(`${TWILIO_API_BASE_URL}/2010-04-01/x.json`, 'http://proxy.test/twilio/')).toBe(
      'http://proxy.test/twilio/2010-04-01/x.json',
    );
  });

  it('also rewrites edge / region hostnames (TWILIO_EDGE, TWILIO_REGION)', () => {
    expect(rewriteTwilioUri('https://api.sydney.au1.twilio.com/2010-04-01/x.json', 'http://h:1')).toBe('http://h:1/2010-04-01/x.json');
    expect(rewriteTwilioUri('https://api.twilio.com:443/2010-04-01/x.json', 'http://h:1')).toBe('http://h:1/2010-04-01/x.json');
  });

  it('leaves other hosts alone', () => {
    for (const uri of ['https://messaging.twilio.com/v1/Services', 'https://api.twilio.com.evil.test/x', 'http://api.twilio.com/x']) {
      expect(rewriteTwilioUri(uri, 'http://h:1')).toBe(uri);
    }
  });
});

describe('createTwilioClient', () => {
  it('sends SDK requests to the base URL', async () => {
    const transport = stubTransport({ statusCode: 201, body: created });
    const client = createTwilioClient({ accountSid, authToken, baseUrl: 'http://127.0.0.1:4010' });

    const message = await client.messages.create({ to: created.to, from: created.from, body: 'hi' });

    expect(message.sid).toBe(created.sid);
    expect(transport).toHaveBeenCalledTimes(1);
    expect(transport.mock.calls[0][0]).toMatchObject({
      method: 'post',
      uri: `http://127.0.0.1:4010/2010-04-01/Accounts/${accountSid}/Messages.json`,
      username: accountSid,
      password: authToken,
      data: { To: created.to, From: created.from, Body: 'hi' },
    });
  });

  it("leaves URIs untouched without a base URL (or with Twilio's own)", async () => {
    const transport = stubTransport({ statusCode: 201, body: created });
    await createTwilioClient({ accountSid, authToken }).messages.create({
      to: created.to,
      from: created.from,
      body: 'hi',
    });
    await createTwilioClient({ accountSid, authToken, baseUrl: `${TWILIO_API_BASE_URL}/` }).messages.create({
      to: created.to,
      from: created.from,
      body: 'hi',
    });
    expect(transport.mock.calls.map(([opts]) => opts.uri)).toEqual([messagesUri, messagesUri]);
  });

  it('uses keep-alive and a 10 s default timeout, or timeoutMs', () => {
    const byDefault = createTwilioClient({ accountSid, authToken, baseUrl: 'http://127.0.0.1:4010' });
    expect(byDefault.httpClient).toMatchObject({ keepAlive: true, defaultTimeout: 10_000 });
    expect(byDefault.httpClient.axios.defaults.httpAgent).toMatchObject({ keepAlive: true });

    const quick = createTwilioClient({ accountSid, authToken, timeoutMs: 300 });
    expect(quick.httpClient).toMatchObject({ keepAlive: true, defaultTimeout: 300 });
  });

  it("keeps the SDK's autoRetry off (the dispatcher owns retries) and a pool as large as asked", () => {
    const client = createTwilioClient({ accountSid, authToken, baseUrl: 'http://127.0.0.1:4010', poolSize: 50 });
    expect(client.httpClient).toMatchObject({ autoRetry: false });
    expect(client.httpClient.axios.defaults.httpAgent).toMatchObject({ maxSockets: 50, maxFreeSockets: 50 });
  });

  it('attaches Retry-After (seconds or HTTP-date) to the RestException the SDK would throw', async () => {
    const client = createTwilioClient({ accountSid, authToken, baseUrl: 'http://127.0.0.1:4010' });
    const tooMany = {
      code: 20429,
      message: 'Too Many Requests',
      more_info: 'https://www.twilio.com/docs/errors/20429',
      status: 429,
    };

    stubTransport({ statusCode: 429, body: tooMany, headers: { 'retry-after': '12' } });
    const err = await client.messages.create({ to: created.to, from: created.from, body: 'hi' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(twilio.RestException);
    expect(err).toMatchObject({ status: 429, code: 20429, moreInfo: tooMany.more_info, retryAfterSeconds: 12 });

    vi.restoreAllMocks();
    const inOneMinute = new Date(Date.now() + 60_000).toUTCString();
    stubTransport({
      statusCode: 503,
      body: JSON.stringify({ ...tooMany, code: 20503, status: 503 }),
      headers: { 'Retry-After': inOneMinute },
    });
    const later = toTwilioFailure(
      await client
        .messages(created.sid)
        .fetch()
        .catch((e: unknown) => e),
    );
    expect(later).toMatchObject({ kind: 'rejected', status: 503, code: 20503 });
    expect(later.kind === 'rejected' && later.retryAfterSeconds).toBeGreaterThanOrEqual(58);
  });

  it('leaves error responses without Retry-After to the SDK', async () => {
    stubTransport({ statusCode: 400, body: { code: 21211, message: 'invalid To', status: 400 } });
    const client = createTwilioClient({ accountSid, authToken, baseUrl: 'http://127.0.0.1:4010' });
    const err = await client.messages.create({ to: 'x', from: created.from, body: 'hi' }).catch((e: unknown) => e);
    expect(isTwilioRestException(err)).toBe(true);
    expect(err).toMatchObject({ status: 400, code: 21211 });
    expect(err).not.toHaveProperty('retryAfterSeconds');
  });
});

describe('toTwilioFailure', () => {
  it('maps a RestException', () => {
    const err = new twilio.RestException({
      statusCode: 400,
      body: {
        code: 21610,
        message: 'Attempt to send to unsubscribed recipient',
        more_info: 'https://www.twilio.com/docs/errors/21610',
        status: 400,
      },
    });
    expect(isTwilioRestException(err)).toBe(true);
    expect(toTwilioFailure(err)).toEqual({
      kind: 'rejected',
      status: 400,
      code: 21610,
      message: 'Attempt to send to unsubscribed recipient',
      moreInfo: 'https://www.twilio.com/docs/errors/21610',
      retryAfterSeconds: undefined,
    });
  });

  it('maps a RestException whose body was not JSON (e.g. an HTML 502 from a proxy)', () => {
    const err = new twilio.RestException({ statusCode: 502, body: '<html>Bad Gateway</html>' });
    expect(toTwilioFailure(err)).toMatchObject({
      kind: 'rejected',
      status: 502,
      code: undefined,
      message: '[HTTP 502] Failed to execute request',
    });
  });

  it('maps an RFC 9457 TwilioServiceException', async () => {
    stubTransport({
      statusCode: 400,
      body: {
        type: 'https://www.twilio.com/docs/errors/21211',
        title: 'Invalid To',
        status: 400,
        code: 21211,
        detail: 'The To number is invalid',
      },
      headers: { 'retry-after': '5' }, // left to the SDK all the same: not a RestException body
    });
    const client = createTwilioClient({ accountSid, authToken, baseUrl: 'http://127.0.0.1:4010' });
    const err = await client.messages.create({ to: 'x', from: created.from, body: 'hi' }).catch((e: unknown) => e);
    expect(isTwilioRestException(err)).toBe(false);
    expect(toTwilioFailure(err)).toEqual({
      kind: 'rejected',
      status: 400,
      code: 21211,
      message: 'The To number is invalid',
      moreInfo: 'https://www.twilio.com/docs/errors/21211',
    });
  });

  it('classifies axios timeouts (ECONNABORTED, or ETIMEDOUT with clarifyTimeoutError)', () => {
    expect(toTwilioFailure(axiosError('timeout of 300ms exceeded', 'ECONNABORTED'))).toEqual({
      kind: 'timeout',
      message: 'timeout of 300ms exceeded',
    });
    expect(toTwilioFailure(axiosError('timeout exceeded', 'ETIMEDOUT'))).toMatchObject({ kind: 'timeout' });
  });

  it('classifies connection errors as network, using the code when the message is empty', () => {
    expect(toTwilioFailure(axiosError('connect ECONNREFUSED 127.0.0.1:1', 'ECONNREFUSED'))).toEqual({
      kind: 'network',
      message: 'connect ECONNREFUSED 127.0.0.1:1',
    });
    // Node 20 happy-eyeballs: AggregateError with an empty message, wrapped by axios.
    expect(toTwilioFailure(Object.assign(new AggregateError([], ''), { code: 'ECONNREFUSED' }))).toEqual({
      kind: 'network',
      message: 'ECONNREFUSED',
    });
    expect(toTwilioFailure(axiosError('getaddrinfo ENOTFOUND api.example', 'ENOTFOUND'))).toMatchObject({ kind: 'network' });
  });

  it('classifies a reset after the request left, and anything unattributable, as lost (the outcome is unknown)', () => {
    expect(toTwilioFailure(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }))).toMatchObject({
      kind: 'lost',
    });
    expect(toTwilioFailure('weird')).toEqual({ kind: 'lost', message: 'weird' });
  });

  it('never lets credentials through in messages', () => {
    const basic = Buffer.from(`${accountSid}:${authToken}`).toString('base64');
    const failure = toTwilioFailure(
      new Error(`request failed: Authorization: Basic ${basic} to https://${accountSid}:${authToken}@api.twilio.com/`),
    );
    expect(failure.message).not.toContain(basic);
    expect(failure.message).not.toContain(authToken);
    expect(failure.message).toContain('Basic [redacted]');
  });

  it("never lets the Account SID through in Twilio's own error texts (20404 names the resource path)", () => {
    const notFound = new twilio.RestException({
      statusCode: 404,
      body: {
        code: 20404,
        message: `The requested resource /2010-04-01/Accounts/${accountSid}/Messages.json was not found`,
        more_info: 'https://www.twilio.com/docs/errors/20404',
        status: 404,
      },
    });
    const detailed = Object.assign(new Error('Not Found'), {
      status: 404,
      code: 20404,
      title: 'Not Found',
      type: 'https://www.twilio.com/docs/errors/20404',
      detail: `No Account ${accountSid} here`,
    });
    const failures = [notFound, detailed, new Error(`GET /2010-04-01/Accounts/${accountSid}.json failed`)].map(toTwilioFailure);

    expect(failures.map((f) => f.message)).toEqual([
      'The requested resource /2010-04-01/Accounts/AC[redacted]/Messages.json was not found',
      'No Account AC[redacted] here',
      'GET /2010-04-01/Accounts/AC[redacted].json failed',
    ]);
  });
});
