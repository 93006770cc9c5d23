import { HttpException, HttpStatus } from '@nestjs/common';
import type { Clock } from '../common/clock.js';
import type { AppConfig } from '../config/app-config.js';
import { LoginAttemptsService } from './login-attempts.service.js';

const MAX_PER_EMAIL = 3;
const MAX_PER_IP = 5;
const WINDOW_SECONDS = 60;
const IP = '203.0.113.7';
const OTHER_IP = '198.51.100.9';

/** What assertAllowed threw, or undefined when it let the attempt through. */
function refusal(fn: () => void): HttpException | undefined {
  try {
    fn();
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
  let now: Date;

  const advance = (ms: number) => {
    now = new Date(now.getTime() + ms);
  };
  const fail = (email: string, ip = IP, times = 1) => {
    for (let i = 0; i < times; i++) sut.recordFailure(email, ip);
  };

  beforeEach(() => {
    now = new Date('2024-01-15T10:00:00.000Z');
    const clock = { now: () => now } as Clock;
    const config = { login: { maxAttemptsPerEmail: MAX_PER_EMAIL, maxAttemptsPerIp: MAX_PER_IP, windowSeconds: WINDOW_SECONDS } };
    sut = new LoginAttemptsService(config as unknown as AppConfig, clock);
  });

  describe('assertAllowed', () => {
    it('should let an email with no failures through', () => {
      expect(refusal(() => sut.assertAllowed('marie@example.com', IP))).toBeUndefined();
    });

    it('should let an email through while it is under its limit', () => {
      fail('marie@example.com', IP, MAX_PER_EMAIL - 1);

      expect(refusal(() => sut.assertAllowed('marie@example.com', IP))).toBeUndefined();
    });

    it('should answer 429 with Retry-After once an email reaches its limit', () => {
      fail('marie@example.com', IP, MAX_PER_EMAIL);

      const error = refusal(() => sut.assertAllowed('marie@example.com', IP));

      expect(error?.getStatus()).toBe(HttpStatus.TOO_MANY_REQUESTS);
      expect(retryAfterOf(error)).toBe(String(WINDOW_SECONDS));
      expect(error?.message).toContain(`${WINDOW_SECONDS} seconds`);
    });

    it('should block the email whatever the IP it comes from next', () => {
      fail('marie@example.com', IP, MAX_PER_EMAIL);

      expect(refusal(() => sut.assertAllowed('marie@example.com', OTHER_IP))?.getStatus()).toBe(HttpStatus.TOO_MANY_REQUESTS);
    });

    it('should not block another email from another IP', () => {
      fail('marie@example.com', IP, MAX_PER_EMAIL);

      expect(refusal(() => sut.assertAllowed('paul@example.com', OTHER_IP))).toBeUndefined();
    });

    it('should count failures per IP across emails, with the IP limit', () => {
      for (let i = 0; i < MAX_PER_IP - 1; i++) fail(`user${i}@example.com`);
      expect(refusal(() => sut.assertAllowed('new@example.com', IP))).toBeUndefined();

      fail(`user${MAX_PER_IP}@example.com`);

      expect(refusal(() => sut.assertAllowed('new@example.com', IP))?.getStatus()).toBe(HttpStatus.TOO_MANY_REQUESTS);
      expect(refusal(() => sut.assertAllowed('new@example.com', OTHER_IP))).toBeUndefined();
    });

    it('should hold the IP to its own limit, not the email limit', () => {
      fail('a@example.com', IP, MAX_PER_EMAIL);

      expect(refusal(() => sut.assertAllowed('a@example.com', IP))?.getStatus()).toBe(HttpStatus.TOO_MANY_REQUESTS);
      expect(refusal(() => sut.assertAllowed('b@example.com', IP))).toBeUndefined();
    });

    it('should count Retry-After down with the clock, rounding up to the second', () => {
      fail('marie@example.com', IP, MAX_PER_EMAIL);

      advance(20_000);
      expect(retryAfterOf(refusal(() => sut.assertAllowed('marie@example.com', IP)))).toBe('40');

      advance(39_500);
      expect(retryAfterOf(refusal(() => sut.assertAllowed('marie@example.com', IP)))).toBe('1');
    });

    it('should time the window from the first failure, not the last', () => {
      fail('marie@example.com');
      advance(30_000);
      fail('marie@example.com');
      advance(20_000);
      fail('marie@example.com');

      expect(retryAfterOf(refusal(() => sut.assertAllowed('marie@example.com', IP)))).toBe('10');
    });

    it('should unblock once the window has passed', () => {
      fail('marie@example.com', IP, MAX_PER_EMAIL);

      advance(WINDOW_SECONDS * 1000);

      expect(refusal(() => sut.assertAllowed('marie@example.com', IP))).toBeUndefined();
    });

    it('should not count failures of an expired window towards a new one', () => {
      fail('marie@example.com', IP, MAX_PER_EMAIL - 1);
      advance(WINDOW_SECONDS * 1000);

      fail('marie@example.com', IP, MAX_PER_EMAIL - 1);

      expect(refusal(() => sut.assertAllowed('marie@example.com', IP))).toBeUndefined();
    });

    it('should start a new full window with the first failure after expiry', () => {
      fail('marie@example.com', IP, MAX_PER_EMAIL);
      advance(WINDOW_SECONDS * 1000);

      fail('marie@example.com', IP, MAX_PER_EMAIL);

      expect(retryAfterOf(refusal(() => sut.assertAllowed('marie@example.com', IP)))).toBe(String(WINDOW_SECONDS));
    });

    it('should answer with the longer Retry-After when the email is blocked for longer than the IP', () => {
      fail('x@example.com', IP, MAX_PER_IP - MAX_PER_EMAIL);
      advance(30_000);
      fail('marie@example.com', IP, MAX_PER_EMAIL);

      expect(retryAfterOf(refusal(() => sut.assertAllowed('marie@example.com', IP)))).toBe('60');
    });

    it('should answer with the longer Retry-After when the IP is blocked for longer than the email', () => {
      fail('marie@example.com', OTHER_IP, 1);
      advance(30_000);
      fail('marie@example.com', IP, MAX_PER_EMAIL - 1);
      fail('x@example.com', IP, MAX_PER_IP - (MAX_PER_EMAIL - 1));

      expect(retryAfterOf(refusal(() => sut.assertAllowed('marie@example.com', IP)))).toBe('60');
      expect(retryAfterOf(refusal(() => sut.assertAllowed('marie@example.com', '192.0.2.1')))).toBe('30');
    });
  });

  describe('recordSuccess', () => {
    it("should clear the email's failures", () => {
      fail('marie@example.com', OTHER_IP, MAX_PER_EMAIL);

      sut.recordSuccess('marie@example.com');

      expect(refusal(() => sut.assertAllowed('marie@example.com', IP))).toBeUndefined();
    });

    it("should not clear the IP's failures", () => {
      fail('marie@example.com', IP, MAX_PER_IP);

      sut.recordSuccess('marie@example.com');

      expect(refusal(() => sut.assertAllowed('marie@example.com', IP))?.getStatus()).toBe(HttpStatus.TOO_MANY_REQUESTS);
      expect(refusal(() => sut.assertAllowed('marie@example.com', OTHER_IP))).toBeUndefined();
    });

    it("should not clear another email's failures", () => {
      fail('paul@example.com', OTHER_IP, MAX_PER_EMAIL);

      sut.recordSuccess('marie@example.com');

      expect(refusal(() => sut.assertAllowed('paul@example.com', IP))?.getStatus()).toBe(HttpStatus.TOO_MANY_REQUESTS);
    });
  });
});
