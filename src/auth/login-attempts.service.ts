import { HttpException, HttpStatus, Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
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
 * past either limit, sign-in answers 429 with Retry-After until that window ends.
 *
 * Each attempt takes its point before the password is checked, atomically (an increment in memory, a
 * Lua script in Redis): thirty concurrent guesses cannot all pass a check made before any of them is
 * recorded. A successful sign-in gives its point back, so only failures count, and clears the email.
 * With `REDIS_URL` the counts live in Redis and every instance shares them; without it, each
 * instance counts its own. If Redis stops answering, each instance counts in memory meanwhile.
 */
@Injectable()
export class LoginAttemptsService {
  private readonly perEmail: RateLimiterAbstract;
  private readonly perIp: RateLimiterAbstract;

  constructor(config: AppConfig, @Inject(REDIS) redis: Redis | null) {
    const { maxAttemptsPerEmail, maxAttemptsPerIp, windowSeconds } = config.login;
    const limiter = (name: string, points: number): RateLimiterAbstract =>
      createRateLimiter(redis, { keyPrefix: `${config.redisKeyPrefix}login-${name}`, points, durationSeconds: windowSeconds });
    this.perEmail = limiter('email', maxAttemptsPerEmail);
    this.perIp = limiter('ip', maxAttemptsPerIp);
  }

  /**
   * Counts one attempt for the email and the IP, or throws 429 (with the longer Retry-After) when
   * either is already at its limit; a refused attempt counts against neither.
   */
  async begin(email: string, ip: string): Promise<LoginAttempt> {
    const [byEmail, byIp] = await Promise.allSettled([this.perEmail.consume(email), this.perIp.consume(ip)]);
    const refusals = [byEmail, byIp].filter((r) => r.status === 'rejected').map((r) => r.reason as unknown);
    if (refusals.length) {
      // An error of the store itself (not a refusal) is not the caller's fault: let it be a 500.
      const storeError = refusals.find((reason) => !(reason instanceof RateLimiterRes));
      if (byEmail.status === 'fulfilled') await this.perEmail.reward(email);
      if (byIp.status === 'fulfilled') await this.perIp.reward(ip);
      if (storeError) throw storeError;
      const retryAfter = Math.max(...refusals.map((r) => retryAfterSeconds(r as RateLimiterRes)));
      throw new HttpException(
        {
          message: `Too many failed sign-in attempts; try again in ${retryAfter} seconds`,
          headers: { 'Retry-After': String(retryAfter) },
        },
        HttpStatus.TOO_MANY_REQUESTS,
      );
    }
    return {
      succeeded: async () => {
        await Promise.all([this.perEmail.delete(email), this.perIp.reward(ip)]);
      },
    };
  }
}
