import { HttpException, HttpStatus, Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { createHmac } from 'node:crypto';
import { RateLimiterAbstract, RateLimiterRes } from 'rate-limiter-flexible';
import { AppConfig } from '../config/app-config.js';
import { createRateLimiter, retryAfterSeconds } from '../redis/rate-limiter.js';
import { REDIS } from '../redis/redis.module.js';

/** An attempt let through: settle it with `succeeded()` or leave it counted as a failure. */
export interface LoginAttempt {
  /** The password was right: the attempt stops counting, and the email's failures are forgotten. */
  succeeded(): Promise<void>;
}

/**
 * Limits failed sign-ins per email and per IP in a fixed window that starts with the first attempt;
 * past either limit, sign-in answers 429 with Retry-After until that window ends. Besides, every sign-in
 * request counts per IP per minute (LOGIN_MAX_PER_IP_PER_MINUTE, successful or not): a backstop on raw volume.
 *
 * Each attempt takes its points before the password is checked, atomically (an increment in memory, a
 * Lua script in Redis): thirty concurrent guesses cannot all pass a check made before any of them is
 * recorded. A successful sign-in gives its failure points back, so only failures count there, and clears
 * the email. With `REDIS_URL` the counts live in Redis and every instance shares them; without it, each
 * instance counts its own. If Redis stops answering, each instance counts in memory meanwhile.
 */
@Injectable()
export class LoginAttemptsService {
  private readonly perEmail: RateLimiterAbstract;
  private readonly perIp: RateLimiterAbstract;
  private readonly volumePerIp: RateLimiterAbstract | null;
  /** Keys the email digests (see emailCountKey): derived from JWT_SECRET, so every instance computes the same. */
  private readonly emailKeySecret: Buffer;

  constructor(config: AppConfig, @Inject(REDIS) redis: Redis | null) {
    this.emailKeySecret = createHmac('sha256', config.jwt.secret).update('login-email-count-key').digest();
    const { maxAttemptsPerEmail, maxAttemptsPerIp, windowSeconds, maxPerIpPerMinute } = config.login;
    const limiter = (name: string, points: number, durationSeconds = windowSeconds): RateLimiterAbstract =>
      createRateLimiter(redis, { keyPrefix: `${config.redisKeyPrefix}login-${name}`, points, durationSeconds });
    this.perEmail = limiter('email', maxAttemptsPerEmail);
    this.perIp = limiter('ip', maxAttemptsPerIp);
    this.volumePerIp = maxPerIpPerMinute > 0 ? limiter('ip-volume', maxPerIpPerMinute, 60) : null;
  }

  /**
   * Counts one attempt for the email and the IP, or throws 429 (with the longest Retry-After) when any
   * limit is already reached; a refused attempt counts against none.
   */
  async begin(email: string, ip: string): Promise<LoginAttempt> {
    const emailKey = emailCountKey(email, this.emailKeySecret);
    const limits: Array<[RateLimiterAbstract, string]> = [
      [this.perEmail, emailKey],
      [this.perIp, ip],
      ...(this.volumePerIp ? [[this.volumePerIp, ip] as [RateLimiterAbstract, string]] : []),
    ];
    const results = await Promise.allSettled(limits.map(([limiter, key]) => limiter.consume(key)));
    const refused = results.flatMap((r, i) => (r.status === 'rejected' ? [{ reason: r.reason as unknown, limiter: limits[i][0] }] : []));
    if (refused.length) {
      // An error of the store itself (not a refusal) is not the caller's fault: let it be a 500.
      const storeError = refused.find(({ reason }) => !(reason instanceof RateLimiterRes));
      await Promise.all(results.map((r, i) => (r.status === 'fulfilled' ? limits[i][0].reward(limits[i][1]) : undefined)));
      if (storeError) throw storeError.reason;
      const retryAfter = Math.max(...refused.map(({ reason }) => retryAfterSeconds(reason as RateLimiterRes)));
      const volumeOnly = refused.every(({ limiter }) => limiter === this.volumePerIp);
      throw new HttpException(
        {
          message: volumeOnly
            ? `Too many sign-in requests from this address; try again in ${retryAfter} seconds`
            : `Too many failed sign-in attempts; try again in ${retryAfter} seconds`,
          headers: { 'Retry-After': String(retryAfter) },
        },
        HttpStatus.TOO_MANY_REQUESTS,
      );
    }
    return {
      succeeded: async () => {
        await Promise.all([this.perEmail.delete(emailKey), this.perIp.reward(ip)]);
      },
    };
  }
}

/**
 * The key an email's failures are counted under: a keyed digest (HMAC-SHA-256), not the address, so that Redis key
 * names (seen in `MONITOR`, `SCAN`, a slow log or a dashboard) carry no personal data, and, keyed with a server
 * secret, cannot be matched against a list of known addresses by hashing them. The email arrives normalised.
 */
export function emailCountKey(email: string, secret: Buffer | string): string {
  return createHmac('sha256', secret).update(email).digest('base64url').slice(0, 32);
}
