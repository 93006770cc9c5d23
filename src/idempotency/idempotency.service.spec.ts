import { isFinalAnswer } from './idempotency.interceptor.js';
import { canonicalJson, requestHash } from './idempotency.service.js';

describe(canonicalJson.name, () => {
  it('sorts object keys at every level, keeps array order, and drops undefined members like JSON does', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { y: 1, x: 2 }], c: null }, u: undefined })).toBe(
      '{"a":{"c":null,"d":[3,{"x":2,"y":1}]},"b":1}',
    );
    expect(canonicalJson(['b', 'a'])).toBe('["b","a"]');
    expect(canonicalJson('é\u2028')).toBe(JSON.stringify('é\u2028'));
    expect(canonicalJson(undefined)).toBe('');
  });
});

describe(requestHash.name, () => {
  const body = { to: '+33612345678', message: 'Bonjour' };

  it('is the same for the same body whatever the key order', () => {
    expect(requestHash('POST', '/api/sms/send', body)).toBe(
      requestHash('post', '/api/sms/send', { message: 'Bonjour', to: '+33612345678' }),
    );
    expect(requestHash('POST', '/api/sms/send', body)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('differs for another body, route or method', () => {
    const base = requestHash('POST', '/api/sms/send', body);
    expect(requestHash('POST', '/api/sms/send', { ...body, message: 'Bonsoir' })).not.toBe(base);
    expect(requestHash('POST', '/api/sms/notification', body)).not.toBe(base);
    expect(requestHash('PUT', '/api/sms/send', body)).not.toBe(base);
    // "1" and 1 are different requests.
    expect(requestHash('POST', '/r', { a: '1' })).not.toBe(requestHash('POST', '/r', { a: 1 }));
  });
});

describe(isFinalAnswer.name, () => {
  it('keeps 2xx and 4xx answers, and 500 / 504 (the SMS may have gone); drops 429 (the send limit refused it before it ran) and 502 / 503 so a retry runs again', () => {
    for (const status of [200, 201, 202, 400, 403, 404, 409, 422, 500, 504]) expect(isFinalAnswer(status)).toBe(true);
    for (const status of [429, 502, 503]) expect(isFinalAnswer(status)).toBe(false);
  });
});
