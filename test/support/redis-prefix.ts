import { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';

/**
 * For a `describe` on a real Redis server: a client connected before the tests run (until then the app's limiters
 * count in memory) and a key prefix of its own, whose keys are deleted afterwards. Call it inside the `describe`.
 */
export function redisUnderPrefix(url: string, name: string): { readonly redis: Redis; readonly prefix: string } {
  const prefix = `sms-unit-${name}-${randomBytes(6).toString('hex')}:`;
  let redis!: Redis;
  beforeAll(async () => {
    redis = new Redis(url);
    await redis.ping();
  });
  afterAll(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    await redis.quit();
  });
  return {
    get redis() {
      return redis;
    },
    prefix,
  };
}
