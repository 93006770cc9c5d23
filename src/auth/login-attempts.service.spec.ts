import { HttpException, HttpStatus } from '@nestjs/common';
import { createHash, createHmac } from 'node:crypto';
import { Redis } from 'ioredis';
import { inject } from 'vitest';
import { redisUnderPrefix } from '../../test/support/redis-prefix.js';
import type { AppConfig } from '../config/app-config.js';
import {
  emailCountKey,
  KNOWN_ADDRESS_DAYS,
  LoginAttempt,
  LoginAttemptsService,
  SignInThrottled,
  ipCountKey,
} from './login-attempts.service.js';

const MAX_PER_EMAIL = 3;
const MAX_PER_ACCOUNT = 10;
const MAX_PER_IP = 5;
const WINDOW_SECONDS = 60;
const IP = '203.0.113.7';
const OTHER_IP = '198.51.100.9';

/** The 429 begin() threw, or undefined when it let the attempt through (the attempt then counts). */
async function refusal(attempt: Promise<LoginAttempt>): Promise<HttpException | undefined> {
  try {
    await attempt;
    return undefined;
  } catch (error) {
    if (error instanceof HttpException) return error;
    throw error;
  }
}

const retryAfterOf = (error: HttpException | undefined) =>
  (error?.getResponse() as { headers?: Record<string, string> } | undefined)?.headers?.['Retry-After'];

describe(LoginAttemptsService.name, () => {
  let sut: LoginAttemptsService;

  const advance = (ms: number) => vi.advanceTimersByTime(ms);
  /** Attempts that are let through and never succeed: failed sign-ins. */
  const fail = async (email: string, ip = IP, times = 1) => {
    for (let i = 0; i < times; i++) await sut.begin(email, ip);
  };
  const attempt = (email: string, ip = IP) => refusal(sut.begin(email, ip));

  beforeEach(() => {
    vi.useFakeTimers({ now: new Date('2024-01-15T10:00:00.000Z') });
    const config = {
      redisKeyPrefix: 'test:',
      jwt: { secret: 'unit-test-secret' },
      login: {
        maxAttemptsPerEmail: MAX_PER_EMAIL,
        maxAttemptsPerAccount: MAX_PER_ACCOUNT,
        maxAttemptsPerIp: MAX_PER_IP,
        windowSeconds: WINDOW_SECONDS,
      },
    };
    sut = new LoginAttemptsService(config as unknown as AppConfig, null);
  });

  afterEach(() => {
    vi.useRealTimers();
  });

  describe('begin', () => {
    it('should let an email with no failures through', async () => {
      expect(await attempt('marie@example.com')).toBeUndefined();
    });

    it('should let an email through while it is under its limit', async () => {
      await fail('marie@example.com', IP, MAX_PER_EMAIL - 1);

      expect(await attempt('marie@example.com')).toBeUndefined();
    });

    it('should answer 429 with Retry-After once an email reaches its limit', async () => {
      await fail('marie@example.com', IP, MAX_PER_EMAIL);

      const error = await attempt('marie@example.com');

      expect(error?.getStatus()).toBe(HttpStatus.TOO_MANY_REQUESTS);
      expect(retryAfterOf(error)).toBe(String(WINDOW_SECONDS));
      expect(error?.message).toContain(`${WINDOW_SECONDS} seconds`);
    });

    it('should count concurrent attempts atomically: only the limit gets through', async () => {
      const outcomes = await Promise.all(Array.from({ length: 30 }, () => attempt('marie@example.com')));

      expect(outcomes.filter((o) => o === undefined)).toHaveLength(MAX_PER_EMAIL);
      expect(outcomes.filter((o) => o?.getStatus() === HttpStatus.TOO_MANY_REQUESTS)).toHaveLength(30 - MAX_PER_EMAIL);
    });

    it('should say which limits a refusal is the first to go past in their window: one refusal per key, under concurrency too', async () => {
      // Thirty guesses at once from as many addresses (the IPs stay under their own limit).
      const outcomes = await Promise.all(Array.from({ length: 30 }, (_, i) => attempt('marie@example.com', `192.0.2.${i + 1}`)));

      const firsts = outcomes.map((o) => (o instanceof SignInThrottled ? o.newlyReached : undefined)).filter((n) => n?.length);
      expect(outcomes.filter((o) => o === undefined)).toHaveLength(MAX_PER_ACCOUNT);
      expect(firsts).toEqual([['account_all']]);
      // Later refusals in the window go past nothing new; the IP's own limit, once reached, is named once too.
      expect(((await attempt('marie@example.com')) as SignInThrottled).newlyReached).toEqual([]);
      for (let i = 0; i < MAX_PER_IP; i++) await fail(`user${i}@example.com`);
      expect(((await attempt('new@example.com')) as SignInThrottled).newlyReached).toEqual(['ip']);
      expect(((await attempt('newer@example.com')) as SignInThrottled).newlyReached).toEqual([]);
      // A new window: a new first refusal.
      advance(WINDOW_SECONDS * 1000);
      await fail('marie@example.com', IP, MAX_PER_EMAIL);
      expect(((await attempt('marie@example.com')) as SignInThrottled).newlyReached).toEqual(['account']);
    });

    it('should name a limit once even when a point given back lets the count go past it again', async () => {
      for (let i = 0; i < MAX_PER_ACCOUNT; i++) await fail('blocked@example.com', `192.0.2.${i + 1}`);
      for (let i = 0; i < MAX_PER_IP - 1; i++) await fail(`user${i}@example.com`);
      // At once: the blocked email's attempt takes the IP's last point, then gives it back (its email refused it); the
      // other attempt, between the two, is refused by the IP. Then the next one goes past the IP's limit again.
      const [blocked, between] = (await Promise.all([attempt('blocked@example.com'), attempt('between@example.com')])) as SignInThrottled[];
      expect(blocked.newlyReached).toEqual(['account_all']);
      expect(between.newlyReached).toEqual(['ip']);
      const next = (await attempt('next@example.com')) as SignInThrottled;
      expect(next.getStatus()).toBe(HttpStatus.TOO_MANY_REQUESTS);
      expect(next.newlyReached).toEqual([]);
    });

    it("should keep an account's own-password count apart from any text typed as an email at sign-in", async () => {
      const accountId = '0b4c6a9e-5f0e-4d8a-9a51-3c2b7e1d9f00';
      await fail(accountId, OTHER_IP, MAX_PER_EMAIL);
      await fail(`user:${accountId}`, '192.0.2.99', MAX_PER_EMAIL);
      expect((await attempt(accountId, OTHER_IP))?.getStatus()).toBe(HttpStatus.TOO_MANY_REQUESTS);

      expect(await refusal(sut.begin(accountId, OTHER_IP, 'account'))).toBeUndefined();
    });

    it("should note the next window's first refusal even when the last one came at the end of its window", async () => {
      await fail('marie@example.com', IP, MAX_PER_EMAIL);
      advance((WINDOW_SECONDS - 5) * 1000);
      expect(((await attempt('marie@example.com')) as SignInThrottled).newlyReached).toEqual(['account']);
      // A new window, five seconds later: locked again, noted again.
      advance(6_000);
      await fail('marie@example.com', OTHER_IP, MAX_PER_EMAIL);
      expect(((await attempt('marie@example.com', OTHER_IP)) as SignInThrottled).newlyReached).toEqual(['account']);
    });

    it('should block the email from the address that failed, not from another (where its owner signs in)', async () => {
      await fail('marie@example.com', IP, MAX_PER_EMAIL);

      expect((await attempt('marie@example.com', IP))?.getStatus()).toBe(HttpStatus.TOO_MANY_REQUESTS);
      expect(await attempt('marie@example.com', OTHER_IP)).toBeUndefined();
    });

    it('should block the email from every address once failures from all of them reach LOGIN_MAX_ATTEMPTS_PER_ACCOUNT', async () => {
      for (let i = 0; i < MAX_PER_ACCOUNT; i++) await fail('marie@example.com', `192.0.2.${i + 1}`);

      const refused = (await attempt('marie@example.com', OTHER_IP)) as SignInThrottled;
      expect(refused.getStatus()).toBe(HttpStatus.TOO_MANY_REQUESTS);
      expect(refused.newlyReached).toEqual(['account_all']);
      expect(retryAfterOf(refused)).toBe(String(WINDOW_SECONDS));
      expect(await attempt('paul@example.com', OTHER_IP)).toBeUndefined();
    });

    it('should not block another email from another IP', async () => {
      await fail('marie@example.com', IP, MAX_PER_EMAIL);

      expect(await attempt('paul@example.com', OTHER_IP)).toBeUndefined();
    });

    it('should count failures per IP across emails, with the IP limit', async () => {
      for (let i = 0; i < MAX_PER_IP - 1; i++) await fail(`user${i}@example.com`);
      expect(await attempt('new@example.com')).toBeUndefined();

      expect((await attempt('newer@example.com'))?.getStatus()).toBe(HttpStatus.TOO_MANY_REQUESTS);
      expect(await attempt('newer@example.com', OTHER_IP)).toBeUndefined();
    });

    it('should hold the IP to its own limit, not the email limit', async () => {
      await fail('a@example.com', IP, MAX_PER_EMAIL);

      expect((await attempt('a@example.com'))?.getStatus()).toBe(HttpStatus.TOO_MANY_REQUESTS);
      expect(await attempt('b@example.com')).toBeUndefined();
    });

    it('should count a refused attempt against neither the email nor the IP', async () => {
      await fail('marie@example.com', IP, MAX_PER_EMAIL);
      for (let i = 0; i < 10; i++) expect(await attempt('marie@example.com')).toBeDefined();

      // The IP has MAX_PER_EMAIL failures, not MAX_PER_EMAIL + 10: it still has room.
      expect(await attempt('paul@example.com')).toBeUndefined();
    });

    it('should count Retry-After down with the clock, rounding up to the second', async () => {
      await fail('marie@example.com', IP, MAX_PER_EMAIL);

      advance(20_000);
      expect(retryAfterOf(await attempt('marie@example.com'))).toBe('40');

      advance(39_500);
      expect(retryAfterOf(await attempt('marie@example.com'))).toBe('1');
    });

    it('should time the window from the first failure, not the last', async () => {
      await fail('marie@example.com');
      advance(30_000);
      await fail('marie@example.com');
      advance(20_000);
      await fail('marie@example.com');

      expect(retryAfterOf(await attempt('marie@example.com'))).toBe('10');
    });

    it('should unblock once the window has passed', async () => {
      await fail('marie@example.com', IP, MAX_PER_EMAIL);

      advance(WINDOW_SECONDS * 1000);

      expect(await attempt('marie@example.com')).toBeUndefined();
    });

    it('should not count failures of an expired window towards a new one', async () => {
      await fail('marie@example.com', IP, MAX_PER_EMAIL - 1);
      advance(WINDOW_SECONDS * 1000);

      await fail('marie@example.com', IP, MAX_PER_EMAIL - 1);

      expect(await attempt('marie@example.com')).toBeUndefined();
    });

    it('should start a new full window with the first failure after expiry', async () => {
      await fail('marie@example.com', IP, MAX_PER_EMAIL);
      advance(WINDOW_SECONDS * 1000);

      await fail('marie@example.com', IP, MAX_PER_EMAIL);

      expect(retryAfterOf(await attempt('marie@example.com'))).toBe(String(WINDOW_SECONDS));
    });

    it('should answer with the longer Retry-After when the email is blocked for longer than the IP', async () => {
      for (let i = 0; i < MAX_PER_IP; i++) await fail(`user${i}@example.com`, IP);
      advance(30_000);
      for (let i = 0; i < MAX_PER_ACCOUNT; i++) await fail('marie@example.com', `192.0.2.${i + 1}`);

      expect(retryAfterOf(await attempt('marie@example.com', IP))).toBe('60');
      expect(retryAfterOf(await attempt('paul@example.com', IP))).toBe('30');
    });

    it('should answer with the longer Retry-After when the IP is blocked for longer than the email', async () => {
      await fail('marie@example.com', OTHER_IP, MAX_PER_EMAIL);
      advance(30_000);
      for (let i = 0; i < MAX_PER_IP; i++) await fail(`user${i}@example.com`, IP);

      expect(retryAfterOf(await attempt('marie@example.com', IP))).toBe('60');
      expect(retryAfterOf(await attempt('marie@example.com', OTHER_IP))).toBe('30');
    });
  });

  describe('succeeded', () => {
    it("should clear the email's failures from that address, not from others", async () => {
      await fail('marie@example.com', IP, MAX_PER_EMAIL - 1);
      await fail('marie@example.com', OTHER_IP, MAX_PER_EMAIL - 1);

      await (await sut.begin('marie@example.com', IP)).succeeded();

      await fail('marie@example.com', IP, MAX_PER_EMAIL - 1);
      expect(await attempt('marie@example.com', IP)).toBeUndefined();
      expect((await attempt('marie@example.com', IP))?.getStatus()).toBe(HttpStatus.TOO_MANY_REQUESTS);
      await fail('marie@example.com', OTHER_IP);
      expect((await attempt('marie@example.com', OTHER_IP))?.getStatus()).toBe(HttpStatus.TOO_MANY_REQUESTS);
    });

    it('should let the owner in from an address it signed in from, past the account-wide limit; not from a new one', async () => {
      await (await sut.begin('marie@example.com', IP)).succeeded();
      for (let i = 0; i < MAX_PER_ACCOUNT; i++) await fail('marie@example.com', `192.0.2.${i + 1}`);
      expect(((await attempt('marie@example.com', OTHER_IP)) as SignInThrottled).newlyReached).toEqual(['account_all']);

      // Known for KNOWN_ADDRESS_DAYS: the account-wide limit does not apply there (this address's own limit does).
      expect(await attempt('marie@example.com', IP)).toBeUndefined();
      advance((KNOWN_ADDRESS_DAYS * 86_400 - 1) * 1000);
      for (let i = 0; i < MAX_PER_ACCOUNT; i++) await fail('marie@example.com', `192.0.2.${i + 1}`);
      expect(await attempt('marie@example.com', IP)).toBeUndefined();
      // Once that time is over, it is an address like any other: the account-wide limit, reached just before, holds it.
      advance(2_000);
      expect(((await attempt('marie@example.com', IP)) as SignInThrottled).newlyReached).toEqual(['account_all']);
    });

    it('should count own-password guesses per account whatever the address (the caller holds its token already)', async () => {
      const accountId = '0b4c6a9e-5f0e-4d8a-9a51-3c2b7e1d9f00';
      for (let i = 0; i < MAX_PER_EMAIL; i++) await sut.begin(accountId, `192.0.2.${i + 1}`, 'account');

      const refused = (await refusal(sut.begin(accountId, '192.0.2.200', 'account'))) as SignInThrottled;
      expect(refused.getStatus()).toBe(HttpStatus.TOO_MANY_REQUESTS);
      expect(refused.newlyReached).toEqual(['account']);
    });

    it('should not clear the count from all addresses: guesses spread over many stay bounded while the owner signs in', async () => {
      for (let i = 0; i < MAX_PER_ACCOUNT - 1; i++) await fail('marie@example.com', `192.0.2.${i + 1}`);

      await (await sut.begin('marie@example.com', IP)).succeeded();

      await fail('marie@example.com', '192.0.2.50');
      expect(((await attempt('marie@example.com', '192.0.2.51')) as SignInThrottled).newlyReached).toEqual(['account_all']);
    });

    it('should not count successful sign-ins against the IP', async () => {
      for (let i = 0; i < MAX_PER_IP * 3; i++) await (await sut.begin(`user${i}@example.com`, IP)).succeeded();

      expect(await attempt('new@example.com')).toBeUndefined();
    });

    it("should not clear the IP's failures", async () => {
      for (let i = 0; i < MAX_PER_IP - 1; i++) await fail(`user${i}@example.com`, IP);

      await (await sut.begin('marie@example.com', IP)).succeeded();

      expect(await attempt('b@example.com')).toBeUndefined();
      expect((await attempt('c@example.com'))?.getStatus()).toBe(HttpStatus.TOO_MANY_REQUESTS);
    });

    it("should not clear another email's failures", async () => {
      await fail('paul@example.com', OTHER_IP, MAX_PER_EMAIL);

      await (await sut.begin('marie@example.com', IP)).succeeded();

      expect((await attempt('paul@example.com', OTHER_IP))?.getStatus()).toBe(HttpStatus.TOO_MANY_REQUESTS);
    });
  });
});

describe(`${LoginAttemptsService.name} with Redis`, () => {
  const config = (prefix: string, secret = 'shared-jwt-secret') =>
    ({
      redisKeyPrefix: prefix,
      jwt: { secret },
      login: {
        maxAttemptsPerEmail: MAX_PER_EMAIL,
        maxAttemptsPerAccount: MAX_PER_ACCOUNT,
        maxAttemptsPerIp: MAX_PER_IP,
        windowSeconds: WINDOW_SECONDS,
      },
    }) as unknown as AppConfig;

  it('should keep counting, per instance, while Redis does not answer', async () => {
    // Nothing listens on port 1: every command fails after one quick retry.
    const redis = new Redis('redis://127.0.0.1:1', { maxRetriesPerRequest: 1, retryStrategy: () => 20 });
    redis.on('error', () => undefined);
    try {
      const sut = new LoginAttemptsService(config('down:'), redis);
      for (let i = 0; i < MAX_PER_EMAIL; i++) await sut.begin('marie@example.com', IP);

      expect((await refusal(sut.begin('marie@example.com', IP)))?.getStatus()).toBe(HttpStatus.TOO_MANY_REQUESTS);
    } finally {
      redis.disconnect();
    }
  });

  const redisUrl = inject('redisUrl');

  describe.skipIf(!redisUrl)('on a Redis server', () => {
    const server = redisUnderPrefix(redisUrl!, 'login');
    const { prefix } = server;

    it('should share the counts between instances, atomically', async () => {
      const one = new LoginAttemptsService(config(prefix), server.redis);
      // Its own connection, as another instance would have.
      const other = server.redis.duplicate();
      try {
        await other.ping();
        const two = new LoginAttemptsService(config(prefix), other);

        const outcomes = await Promise.all(
          Array.from({ length: 20 }, (_, i) => refusal((i % 2 ? one : two).begin('marie@example.com', IP))),
        );

        expect(outcomes.filter((o) => o === undefined)).toHaveLength(MAX_PER_EMAIL);
        // Counted under a keyed digest of the email: no address in a Redis key name, and not its plain SHA-256
        // either (a list of known addresses hashed would name it).
        const emailKeys = await server.redis.keys(`${prefix}login-email:*`);
        expect(emailKeys).toHaveLength(1);
        expect(await server.redis.keys(`${prefix}*@*`)).toEqual([]);
        const plainDigest = createHash('sha256').update('marie@example.com').digest('base64url').slice(0, 32);
        expect(emailKeys[0]).not.toContain(plainDigest);
        // The HMAC under the key derived from JWT_SECRET: both instances (same JWT_SECRET) counted under it.
        const derived = createHmac('sha256', 'shared-jwt-secret').update('login-email-count-key').digest();
        expect(emailKeys[0]).toBe(`${prefix}login-email:${emailCountKey('marie@example.com', derived)}`);
      } finally {
        await other.quit();
      }
    });

    it('should clear the email for every instance on success', async () => {
      const one = new LoginAttemptsService(config(prefix), server.redis);
      const two = new LoginAttemptsService(config(prefix), server.redis);
      for (let i = 0; i < MAX_PER_EMAIL - 1; i++) await one.begin('paul@example.com', OTHER_IP);

      await (await two.begin('paul@example.com', OTHER_IP)).succeeded();

      for (let i = 0; i < MAX_PER_EMAIL; i++) expect(await refusal(one.begin('paul@example.com', OTHER_IP))).toBeUndefined();
    });
  });
});

describe('ipCountKey', () => {
  it.each([
    ['203.0.113.7', '203.0.113.7'],
    ['::ffff:203.0.113.7', '203.0.113.7'],
    ['2001:db8:1:2::a', '2001:db8:1:2::/64'],
    ['2001:0db8:0001:0002:ffff:0:0:1', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['64:ff9b:1:2::192.0.2.1', '64:ff9b:1:2::/64'],
    ['not-an-ip', 'not-an-ip'],
  ])('counts %s under %s', (address, key) => expect(ipCountKey(address)).toBe(key));
});
