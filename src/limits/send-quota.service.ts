import { BadRequestException, HttpException, HttpStatus, Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { RateLimiterAbstract, RateLimiterRes } from 'rate-limiter-flexible';
import { AppConfig } from '../config/app-config.js';
import { createRateLimiter, retryAfterSeconds } from '../redis/rate-limiter.js';
import { REDIS } from '../redis/redis.module.js';

/** The window of SMS_USER_MAX_PER_MINUTE. */
export const SEND_QUOTA_WINDOW_SECONDS = 60;

/**
 * SMS taken from a user's window, to give back (refund) into that window only. The window is known by its end
 * (on this process's monotonic clock): the next window of the same user starts once it has ended, so it ends at least
 * a whole window later.
 */
export interface TakenSms {
  readonly points: number;
  /** performance.now() at the end of the window they were taken from. */
  readonly windowEndsAt: number;
  /** Where they were counted: Redis (it was connected), or this instance's memory (no Redis, or Redis down then). */
  readonly store: 'redis' | 'memory';
}

/**
 * How far the end of the user's current window may be from a TakenSms's for it to be the same window: half a window
 * (any other window ends at least a whole window away), which leaves room for the delays between the store and
 * this process (a slow Redis, a blocked event loop) when the ends were measured.
 */
const SAME_WINDOW_TOLERANCE_MS = (SEND_QUOTA_WINDOW_SECONDS * 1000) / 2;

/**
 * Gives points back in Redis, atomically: only into the window they were taken from (its time left, PTTL, is what
 * the caller expects within a tolerance; a window that ended, whose key is gone or was started afresh, gets nothing)
 * and never below zero (a count deleted by reset() and started again meanwhile gives back at most what it holds).
 * ARGV: points, the ms the window should have left, the tolerance. Returns the points given back.
 */
const REFUND_LUA = `local ttl = redis.call('pttl', KEYS[1])
if ttl <= 0 or math.abs(ttl - tonumber(ARGV[2])) > tonumber(ARGV[3]) then
  return 0
end
local back = math.min(tonumber(ARGV[1]), tonumber(redis.call('get', KEYS[1])) or 0)
if back <= 0 then
  return 0
end
redis.call('decrby', KEYS[1], back)
return back`;

/** The ioredis command that runs REFUND_LUA (its own name on the shared client: see rate-limiter.ts). */
const REFUND_COMMAND = 'smsQuotaRefund';

type RefundCommand = (key: string, points: string, expectedTtlMs: string, toleranceMs: string) => Promise<number>;

/** What RateLimiterMemory keeps per key (its MemoryStorage, read synchronously as FitOnlyMemoryRateLimiter does). */
interface MemoryStorageLike {
  get(key: string): RateLimiterRes | null;
}

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
  /** The in-memory limiter: the limiter itself without Redis, its insurance with it. */
  private readonly memory: RateLimiterAbstract | null;
  readonly limit: number | null;

  constructor(
    config: AppConfig,
    @Inject(REDIS) private readonly redis: Redis | null,
  ) {
    this.limit = config.smsUserMaxPerMinute;
    this.limiter = this.limit
      ? createRateLimiter(redis, {
          keyPrefix: `${config.redisKeyPrefix}sms-user`,
          points: this.limit,
          durationSeconds: SEND_QUOTA_WINDOW_SECONDS,
          fitOnly: true,
        })
      : null;
    this.memory =
      this.limiter && redis
        ? ((this.limiter as unknown as { insuranceLimiter: RateLimiterAbstract }).insuranceLimiter ?? null)
        : this.limiter;
    if (this.limiter && redis) redis.defineCommand(REFUND_COMMAND, { numberOfKeys: 1, lua: REFUND_LUA });
  }

  get enabled(): boolean {
    return this.limiter !== null;
  }

  /**
   * Takes `points` SMS from the user's minute, or throws: 429 with Retry-After when they do not fit now,
   * 400 naming `recipients` when they never can (more than the whole limit).
   */
  async take(userId: string, points: number): Promise<TakenSms | null> {
    if (!this.limiter || !this.limit) return null;
    if (points > this.limit) {
      const problem = `${points} recipients is more than the ${this.limit} SMS a user may send per minute (SMS_USER_MAX_PER_MINUTE): split the bulk`;
      throw new BadRequestException({ message: `recipients: ${problem}`, details: [{ field: 'recipients', problems: [problem] }] });
    }
    try {
      // Counted in Redis when it is connected (else in memory at once: rejectIfRedisNotReady), read before the call.
      const store = this.redis && this.redis.status === 'ready' ? 'redis' : 'memory';
      const taken = await this.limiter.consume(userId, points);
      return { points, windowEndsAt: performance.now() + taken.msBeforeNext, store };
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

  /**
   * Gives back SMS taken by a request that sent nothing (refused input), into the window they were taken from only:
   * once it has ended they are not given again (the next window would start below zero, allowing up to twice the
   * limit), and never more than the window still counts. Atomic, in Redis (a script) as in memory (synchronous).
   */
  async refund(userId: string, taken: TakenSms): Promise<void> {
    if (!this.limiter) return;
    // Given back where they were counted: points counted in memory while Redis was down are not taken off a Redis
    // count that never had them (Redis back since then).
    if (taken.store === 'redis' && this.redis && this.redis.status === 'ready') {
      try {
        const refund = (this.redis as unknown as Record<string, RefundCommand>)[REFUND_COMMAND];
        const expectedTtlMs = Math.round(taken.windowEndsAt - performance.now());
        await refund.call(
          this.redis,
          this.limiter.getKey(userId),
          String(taken.points),
          String(expectedTtlMs),
          String(SAME_WINDOW_TOLERANCE_MS),
        );
        return;
      } catch {
        // Redis did not answer (the shared client's command timeout): the points may have been taken in memory (the
        // limiter's insurance) as well; they are given back there, by the same rule.
      }
    }
    await this.refundInMemory(userId, taken);
  }

  /**
   * The same rule in memory (the limiter without Redis, its insurance while Redis is not connected). The check and
   * the library's decrement run in one synchronous stretch (`reward` changes the count inside its Promise executor),
   * so no consumption can come in between.
   */
  private refundInMemory(userId: string, taken: TakenSms): Promise<unknown> {
    if (!this.memory) return Promise.resolve();
    const storage = (this.memory as unknown as { _memoryStorage: MemoryStorageLike })._memoryStorage;
    const current = storage.get(this.memory.getKey(userId));
    if (!current || current.msBeforeNext <= 0) return Promise.resolve();
    if (Math.abs(performance.now() + current.msBeforeNext - taken.windowEndsAt) > SAME_WINDOW_TOLERANCE_MS) return Promise.resolve();
    const back = Math.min(taken.points, current.consumedPoints);
    return back > 0 ? this.memory.reward(userId, back) : Promise.resolve();
  }

  /** Forgets the user's count, as the end of the window would (operations, tests). */
  async reset(userId: string): Promise<void> {
    if (this.limiter) await this.limiter.delete(userId);
  }
}
