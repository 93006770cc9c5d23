import type { Repository } from 'typeorm';
import { Clock } from '../common/clock.js';
import type { IdempotencyKey } from './idempotency-key.entity.js';
import { isFinalAnswer } from './idempotency.interceptor.js';
import { canonicalJson, IDEMPOTENCY_LEASE_MS, IDEMPOTENCY_RENEW_MS, IdempotencyService, requestHash } from './idempotency.service.js';

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

describe('IdempotencyService.hold', () => {
  /** The service on a repository whose renewals (UPDATE … WHERE state = 'running') affect `running()` rows. */
  function service(running: () => number) {
    const renewals: unknown[] = [];
    const builder = {
      update: () => builder,
      set: (values: unknown) => (renewals.push(values), builder),
      where: () => builder,
      execute: async () => ({ affected: running() }),
    };
    const keys = { createQueryBuilder: () => builder } as unknown as Repository<IdempotencyKey>;
    return { sut: new IdempotencyService(keys, new Clock()), renewals };
  }

  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('renews the claim every renewMs, whatever happens to the connection, until it is stopped; no timer is left', async () => {
    const { sut, renewals } = service(() => 1);
    const stop = sut.hold('claim-1');
    await vi.advanceTimersByTimeAsync(IDEMPOTENCY_RENEW_MS * 5);
    expect(renewals).toHaveLength(5);
    expect(renewals[4]).toEqual({ lockedUntil: new Date(Date.now() + IDEMPOTENCY_LEASE_MS) });

    stop();
    await vi.advanceTimersByTimeAsync(IDEMPOTENCY_RENEW_MS * 5);
    expect(renewals).toHaveLength(5);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('stops by itself once the claim is no longer running (its answer stored or the key released)', async () => {
    let rows = 1;
    const { sut, renewals } = service(() => rows);
    sut.hold('claim-2');
    await vi.advanceTimersByTimeAsync(IDEMPOTENCY_RENEW_MS);
    rows = 0;
    await vi.advanceTimersByTimeAsync(IDEMPOTENCY_RENEW_MS * 5);
    expect(renewals).toHaveLength(2);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('ends every renewal when the app stops', async () => {
    const { sut, renewals } = service(() => 1);
    sut.hold('claim-3');
    sut.hold('claim-4');
    sut.onModuleDestroy();
    await vi.advanceTimersByTimeAsync(IDEMPOTENCY_RENEW_MS * 3);
    expect(renewals).toHaveLength(0);
    expect(vi.getTimerCount()).toBe(0);
  });
});
