import type { Redis } from 'ioredis';
import { type IRateLimiterOptions, RateLimiterAbstract, RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';

export interface RateLimiterSettings {
  /** Appended to REDIS_KEY_PREFIX (the caller passes the whole prefix), e.g. `sms-backbone:login-email`. */
  keyPrefix: string;
  /** Points allowed per window. */
  points: number;
  /** The window, in seconds; it starts with the first point counted and is fixed (not sliding). */
  durationSeconds: number;
  /**
   * A consumption that does not fit is refused without being counted (rate-limiter-flexible's default counts
   * it anyway): a refused 500-recipient bulk must not eat the points that a single SMS could still use.
   */
  fitOnly?: boolean;
}

/**
 * rate-limiter-flexible's own script with one change: the increment happens only when it fits (or gives points
 * back). A refusal still returns `consumed + asked` so the library rejects it with the key's time left.
 * ARGV: points asked, window seconds, the limit (the library passes its `points` third).
 */
const FIT_ONLY_INCR_LUA = `redis.call('set', KEYS[1], 0, 'EX', ARGV[2], 'NX')
local asked = tonumber(ARGV[1])
local consumed = tonumber(redis.call('get', KEYS[1]))
if asked <= 0 or consumed + asked <= tonumber(ARGV[3]) then
  consumed = redis.call('incrby', KEYS[1], asked)
else
  consumed = consumed + asked
end
local ttl = redis.call('pttl', KEYS[1])
if ttl == -1 then
  redis.call('expire', KEYS[1], ARGV[2])
  ttl = 1000 * ARGV[2]
end
return {consumed, ttl}`;

/** What RateLimiterMemory keeps per key (its MemoryStorage; read synchronously, see below). */
interface MemoryStorageLike {
  get(key: string): RateLimiterRes | null;
}

/**
 * RateLimiterMemory that refuses, without counting, a consumption that does not fit. The check and the library's
 * own increment run in one synchronous stretch (its `consume` increments inside its Promise executor), so no other
 * consumption can come in between: the same guarantee as the Redis script, within one process.
 */
export class FitOnlyMemoryRateLimiter extends RateLimiterMemory {
  override consume(key: string | number, pointsToConsume = 1, options: { [key: string]: unknown } = {}): Promise<RateLimiterRes> {
    const storage = (this as unknown as { _memoryStorage: MemoryStorageLike })._memoryStorage;
    const current = storage.get(this.getKey(key));
    const consumed = current?.consumedPoints ?? 0;
    if (pointsToConsume > 0 && consumed + pointsToConsume > this.points) {
      const msBeforeNext = current ? current.msBeforeNext : this.duration * 1000;
      return Promise.reject(new RateLimiterRes(Math.max(0, this.points - consumed), msBeforeNext, consumed + pointsToConsume, false));
    }
    return super.consume(key, pointsToConsume, options);
  }
}

/**
 * The ioredis command that runs FIT_ONLY_INCR_LUA. rate-limiter-flexible defines its script on the client under one
 * name, `rlflxIncr`, for every limiter: with its `customIncrTtlLuaScript`, the last limiter built on a client would
 * decide the script of all of them (the sign-in limiters would become fit-only, or the send quota count refusals).
 * The fit-only script therefore has its own name, and the library's stays its own.
 */
const FIT_ONLY_COMMAND = 'smsFitOnlyIncr';

type FitOnlyCommand = (args: string[]) => Promise<[number, number]>;

/**
 * RateLimiterRedis whose `delete` also goes to the insurance limiter at once while Redis is not connected: the
 * library checks the connection (`rejectIfRedisNotReady`) for consumptions and rewards, not for deletions, which
 * would otherwise wait for ioredis's reconnection attempts (a successful sign-in clears its counter). A fit-only
 * one runs its increments through FIT_ONLY_COMMAND.
 */
class RedisRateLimiter extends RateLimiterRedis {
  constructor(
    options: ConstructorParameters<typeof RateLimiterRedis>[0],
    private readonly redis: Redis,
    private readonly insurance: RateLimiterAbstract,
    private readonly fitOnly: boolean,
  ) {
    super(options);
    if (fitOnly) redis.defineCommand(FIT_ONLY_COMMAND, { numberOfKeys: 1, lua: FIT_ONLY_INCR_LUA });
  }

  override delete(key: string | number, options?: { [key: string]: unknown }): Promise<boolean> {
    return this.redis.status === 'ready' ? super.delete(key, options) : this.insurance.delete(key, options);
  }

  /**
   * The library's own store call (not typed by it): an increment within a window runs the script. Everything else
   * (a forced expiry, a window under a second, the connection and argument checks) stays the library's.
   */
  async _upsert(rlKey: string, points: number, msDuration: number, forceExpire = false): Promise<unknown> {
    const secDuration = Math.floor(msDuration / 1000);
    if (!this.fitOnly || forceExpire || secDuration <= 0 || !Number.isInteger(Number(points)) || this.redis.status !== 'ready') {
      const parent = RateLimiterRedis.prototype as unknown as { _upsert: RedisRateLimiter['_upsert'] };
      return parent._upsert.call(this, rlKey, points, msDuration, forceExpire);
    }
    const command = (this.redis as unknown as Record<string, FitOnlyCommand>)[FIT_ONLY_COMMAND];
    return command.call(this.redis, [rlKey, String(points), String(secDuration), String(this.points), String(this.duration)]);
  }
}

/**
 * The one way this service builds a rate limiter: in Redis (shared by every instance, under REDIS_KEY_PREFIX)
 * when REDIS_URL is configured, with an in-memory limiter as insurance, used at once while Redis is not connected
 * (a request never waits for Redis to come back); in memory (per instance) otherwise.
 */
export function createRateLimiter(redis: Redis | null, settings: RateLimiterSettings): RateLimiterAbstract {
  const options: IRateLimiterOptions = { keyPrefix: settings.keyPrefix, points: settings.points, duration: settings.durationSeconds };
  const memory = settings.fitOnly ? new FitOnlyMemoryRateLimiter(options) : new RateLimiterMemory(options);
  if (!redis) return memory;
  return new RedisRateLimiter(
    { ...options, storeClient: redis, insuranceLimiter: memory, rejectIfRedisNotReady: true },
    redis,
    memory,
    settings.fitOnly ?? false,
  );
}

/** Whole seconds until a refused key's window ends (at least 1), for Retry-After. */
export function retryAfterSeconds(refusal: RateLimiterRes): number {
  return Math.max(1, Math.ceil(refusal.msBeforeNext / 1000));
}
