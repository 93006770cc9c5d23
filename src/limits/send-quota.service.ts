import { BadRequestException, HttpException, HttpStatus, Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { RateLimiterAbstract, RateLimiterRes } from 'rate-limiter-flexible';
import { AppConfig } from '../config/app-config.js';
import { createRateLimiter, retryAfterSeconds } from '../redis/rate-limiter.js';
import { REDIS } from '../redis/redis.module.js';

/** The window of SMS_USER_MAX_PER_MINUTE. */
export const SEND_QUOTA_WINDOW_SECONDS = 60;

/**
 * Per-user limit on the SMS asked for through the sending routes (`SMS_USER_MAX_PER_MINUTE`; a bulk counts its
 * recipients). A fixed window of one minute starting with the user's first counted SMS. A request takes all its
 * points at once or none (a bulk that does not fit is refused whole and costs nothing), atomically: in Redis
 * (one Lua script, shared by every instance, keys under REDIS_KEY_PREFIX) when REDIS_URL is set, in memory per
 * instance otherwise, and in memory meanwhile if Redis stops answering.
 */
@Injectable()
export class SendQuotaService {
  private readonly limiter: RateLimiterAbstract | null;
  readonly limit: number | null;

  constructor(config: AppConfig, @Inject(REDIS) redis: Redis | null) {
    this.limit = config.smsUserMaxPerMinute;
    this.limiter = this.limit
      ? createRateLimiter(redis, {
          keyPrefix: `${config.redisKeyPrefix}sms-user`,
          points: this.limit,
          durationSeconds: SEND_QUOTA_WINDOW_SECONDS,
          fitOnly: true,
        })
      : null;
  }

  get enabled(): boolean {
    return this.limiter !== null;
  }

  /**
   * Takes `points` SMS from the user's minute, or throws: 429 with Retry-After when they do not fit now,
   * 400 naming `recipients` when they never can (more than the whole limit).
   */
  async take(userId: string, points: number): Promise<void> {
    if (!this.limiter || !this.limit) return;
    if (points > this.limit) {
      const problem = `${points} recipients is more than the ${this.limit} SMS a user may send per minute (SMS_USER_MAX_PER_MINUTE): split the bulk`;
      throw new BadRequestException({ message: `recipients: ${problem}`, details: [{ field: 'recipients', problems: [problem] }] });
    }
    try {
      await this.limiter.consume(userId, points);
    } catch (error) {
      // An error of the store itself (not a refusal) is not the caller's fault: let it be a 500.
      if (!(error instanceof RateLimiterRes)) throw error;
      const retryAfter = retryAfterSeconds(error);
      const left = Math.max(0, this.limit - (error.consumedPoints - points));
      const need = points > 1 ? `; this request needs ${points} and ${left} are left` : '';
      throw new HttpException(
        {
          message: `Too many SMS: at most ${this.limit} per minute for each user${need}; try again in ${retryAfter} seconds`,
          headers: { 'Retry-After': String(retryAfter) },
        },
        HttpStatus.TOO_MANY_REQUESTS,
      );
    }
  }

  /** Gives back points taken by a request that sent nothing (refused input). */
  async refund(userId: string, points: number): Promise<void> {
    if (this.limiter) await this.limiter.reward(userId, points);
  }

  /** Forgets the user's count, as the end of the window would (operations, tests). */
  async reset(userId: string): Promise<void> {
    if (this.limiter) await this.limiter.delete(userId);
  }
}
