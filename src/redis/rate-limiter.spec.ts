import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { inject } from 'vitest';
import { createRateLimiter, FitOnlyMemoryRateLimiter, retryAfterSeconds } from './rate-limiter.js';

const LIMIT = 5;

/** The refusal of a consumption, or undefined when it was let through. */
async function refusal(attempt: Promise<unknown>): Promise<RateLimiterRes | undefined> {
  try {
    await attempt;
    return undefined;
  } catch (error) {
    if (error instanceof RateLimiterRes) return error;
    throw error;
  }
}

/** The same rules for the in-memory limiter and the Redis one. */
function fitOnlyContract(make: () => RateLimiterAbstract) {
  it('refuses a consumption that does not fit without counting it', async () => {
    const sut = make();
    await sut.consume('alice', 3);

    const refused = await refusal(sut.consume('alice', 3));

    expect(refused).toBeInstanceOf(RateLimiterRes);
    expect(refused!.msBeforeNext).toBeGreaterThan(0);
    expect(refused!.msBeforeNext).toBeLessThanOrEqual(60_000);
    // The two points left are still there, and no more.
    expect(await refusal(sut.consume('alice', 2))).toBeUndefined();
    expect(await refusal(sut.consume('alice', 1))).toBeInstanceOf(RateLimiterRes);
    expect((await sut.get('alice'))?.consumedPoints).toBe(LIMIT);
  });

  it('lets exactly the limit through among concurrent consumptions, and counts per key', async () => {
    const sut = make();
    const outcomes = await Promise.all(Array.from({ length: 12 }, () => refusal(sut.consume('bob', 1))));

    expect(outcomes.filter((o) => o === undefined)).toHaveLength(LIMIT);
    expect(await refusal(sut.consume('carol', LIMIT))).toBeUndefined();
  });

  it('gives points back (reward)', async () => {
    const sut = make();
    await sut.consume('dave', LIMIT);
    await sut.reward('dave', 2);

    expect(await refusal(sut.consume('dave', 2))).toBeUndefined();
    expect(await refusal(sut.consume('dave', 1))).toBeInstanceOf(RateLimiterRes);
  });
}

describe(FitOnlyMemoryRateLimiter.name, () => {
  fitOnlyContract(() => createRateLimiter(null, { keyPrefix: 'test', points: LIMIT, durationSeconds: 60, fitOnly: true }));

  it('counts a refusal without fitOnly, as rate-limiter-flexible does (what the sign-in throttle relies on)', async () => {
    const sut = createRateLimiter(null, { keyPrefix: 'test', points: LIMIT, durationSeconds: 60 });
    await sut.consume('erin', 3);
    expect(await refusal(sut.consume('erin', 3))).toBeInstanceOf(RateLimiterRes);
    expect((await sut.get('erin'))?.consumedPoints).toBe(6);
  });
});

describe(retryAfterSeconds.name, () => {
  it('rounds up to whole seconds, at least 1', () => {
    expect(retryAfterSeconds(new RateLimiterRes(0, 1))).toBe(1);
    expect(retryAfterSeconds(new RateLimiterRes(0, 59_001))).toBe(60);
    expect(retryAfterSeconds(new RateLimiterRes(0, 0))).toBe(1);
  });
});

const redisUrl = inject('redisUrl');
describe.skipIf(!redisUrl)('fit-only rate limiter in Redis', () => {
  const prefix = `sms-unit-rl-${randomBytes(6).toString('hex')}:`;
  let redis: Redis;
  let other: Redis;
  beforeAll(async () => {
    redis = new Redis(redisUrl!);
    other = new Redis(redisUrl!);
    // Connected first: until then the limiters count in memory (see the last test).
    await Promise.all([redis.ping(), other.ping()]);
  });
  afterAll(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    await redis.quit();
    await other.quit();
  });

  let n = 0;
  fitOnlyContract(() =>
    createRateLimiter(redis, { keyPrefix: `${prefix}contract-${++n}`, points: LIMIT, durationSeconds: 60, fitOnly: true }),
  );

  it('shares the count between instances (two connections) and leaves a refused consumption out of the stored count', async () => {
    const settings = { keyPrefix: `${prefix}shared`, points: LIMIT, durationSeconds: 60, fitOnly: true };
    const one = createRateLimiter(redis, settings);
    const two = createRateLimiter(other, settings);

    const outcomes = await Promise.all(Array.from({ length: 10 }, (_, i) => refusal((i % 2 ? one : two).consume('frank', 1))));
    expect(outcomes.filter((o) => o === undefined)).toHaveLength(LIMIT);
    expect(await redis.get(`${prefix}shared:frank`)).toBe(String(LIMIT));

    await one.reward('frank', 3);
    expect(await refusal(two.consume('frank', 4))).toBeInstanceOf(RateLimiterRes);
    expect(await redis.get(`${prefix}shared:frank`)).toBe('2');
    const ttl = await redis.pttl(`${prefix}shared:frank`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60_000);
  });

  it.each([
    ['fit-only first, then a counting one', true],
    ['a counting one first, then fit-only', false],
  ])('keeps each script its own on one client, whatever the order they are built in (%s)', async (_, fitOnlyFirst) => {
    const build = (fitOnly: boolean) =>
      createRateLimiter(redis, {
        keyPrefix: `${prefix}order-${String(fitOnlyFirst)}-${String(fitOnly)}`,
        points: LIMIT,
        durationSeconds: 60,
        fitOnly,
      });
    const [fitOnly, counting] = fitOnlyFirst ? [build(true), build(false)] : [build(false), build(true)].reverse();

    await fitOnly.consume('iris', 3);
    expect(await refusal(fitOnly.consume('iris', 3))).toBeInstanceOf(RateLimiterRes);
    expect((await fitOnly.get('iris'))?.consumedPoints).toBe(3);

    await counting.consume('iris', 3);
    expect(await refusal(counting.consume('iris', 3))).toBeInstanceOf(RateLimiterRes);
    expect((await counting.get('iris'))?.consumedPoints).toBe(6);
  });

  it('falls back to counting in memory, still fit-only, while Redis does not answer', async () => {
    const down = new Redis('redis://127.0.0.1:1', { maxRetriesPerRequest: 1, retryStrategy: () => 20 });
    down.on('error', () => undefined);
    try {
      const sut = createRateLimiter(down, { keyPrefix: `${prefix}down`, points: LIMIT, durationSeconds: 60, fitOnly: true });
      await sut.consume('gina', 3);
      expect(await refusal(sut.consume('gina', 3))).toBeInstanceOf(RateLimiterRes);
      expect(await refusal(sut.consume('gina', 2))).toBeUndefined();
    } finally {
      down.disconnect();
    }
  });

  it('never sends Redis a command while it is not connected: no request waits for its reconnection attempts', async () => {
    const down = new Redis('redis://127.0.0.1:1', { maxRetriesPerRequest: 2, retryStrategy: () => 2000 });
    down.on('error', () => undefined);
    const commands = vi.spyOn(down, 'sendCommand');
    try {
      const sut = createRateLimiter(down, { keyPrefix: `${prefix}waits`, points: LIMIT, durationSeconds: 60, fitOnly: true });
      await sut.consume('hugo', 2);
      await sut.reward('hugo', 1);
      await sut.penalty('hugo', 1);
      await sut.delete('hugo');
      await sut.get('hugo');
      expect(commands.mock.calls.map(([command]) => command.name)).toEqual([]);
    } finally {
      down.disconnect();
    }
  });
});
