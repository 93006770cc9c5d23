import { HttpException } from '@nestjs/common';
import { Redis } from 'ioredis';
import { inject } from 'vitest';
import { redisUnderPrefix } from '../../test/support/redis-prefix.js';
import type { AppConfig } from '../config/app-config.js';
import { SEND_QUOTA_WINDOW_SECONDS, SendQuotaService } from './send-quota.service.js';

const LIMIT = 5;
const WINDOW_MS = SEND_QUOTA_WINDOW_SECONDS * 1000;

/** How many single SMS the user can still take now (each one taken). */
async function takeAll(quota: SendQuotaService, userId: string): Promise<number> {
  let taken = 0;
  for (let i = 0; i < 3 * LIMIT; i++) {
    try {
      await quota.take(userId, 1);
      taken++;
    } catch (error) {
      if (!(error instanceof HttpException) || error.getStatus() !== 429) throw error;
    }
  }
  return taken;
}

/** A store for the refund rules: the service on it, and how a time passes for a user in it. */
interface Store {
  make(): SendQuotaService;
  /** What vi.useFakeTimers fakes for it. */
  toFake: ('Date' | 'performance' | 'setTimeout' | 'clearTimeout')[];
  /** Moves the clock of this process and the store's on by `ms` for the user's count. */
  elapse(userId: string, ms: number): Promise<void>;
}

/** The refund rules, the same for every store. */
function refundContract(store: Store) {
  let n = 0;
  const user = () => `user-${++n}`;

  beforeEach(() => vi.useFakeTimers({ toFake: store.toFake }));
  afterEach(() => vi.useRealTimers());

  it('gives points back into the window they were taken from, also late in it', async () => {
    const quota = store.make();
    const alice = user();
    const taken = await quota.take(alice, LIMIT);
    await store.elapse(alice, WINDOW_MS - 1000);

    await quota.refund(alice, taken!);

    expect(await takeAll(quota, alice)).toBe(LIMIT);
  });

  it('gives nothing back once that window has ended: the next one holds the limit, not twice it', async () => {
    const quota = store.make();
    const bob = user();
    const taken = await quota.take(bob, LIMIT);
    // The request is refused (400) just after the minute ended, and two SMS were taken in the new minute meanwhile.
    await store.elapse(bob, WINDOW_MS + 1000);
    await quota.take(bob, 2);

    await quota.refund(bob, taken!);

    expect(await takeAll(quota, bob)).toBe(LIMIT - 2);
  });

  it('gives nothing back once that window has ended, also when the next one has not started yet', async () => {
    const quota = store.make();
    const carol = user();
    const taken = await quota.take(carol, 3);
    await store.elapse(carol, WINDOW_MS + 1000);

    await quota.refund(carol, taken!);

    expect(await takeAll(quota, carol)).toBe(LIMIT);
  });

  it('never gives back more than the window counts (its count reset and started again meanwhile)', async () => {
    const quota = store.make();
    const dave = user();
    const taken = await quota.take(dave, 3);
    await quota.reset(dave);
    await quota.take(dave, 1);

    await quota.refund(dave, taken!);

    expect(await takeAll(quota, dave)).toBe(LIMIT);
  });
}

const config = (redisKeyPrefix: string) => ({ smsUserMaxPerMinute: LIMIT, redisKeyPrefix }) as AppConfig;

describe('SendQuotaService refunds in memory', () => {
  refundContract({
    make: () => new SendQuotaService(config('unit:'), null),
    // The in-memory count ends with its own timer.
    toFake: ['Date', 'performance', 'setTimeout', 'clearTimeout'],
    elapse: async (_, ms) => {
      vi.advanceTimersByTime(ms);
    },
  });
});

const redisUrl = inject('redisUrl');
describe.skipIf(!redisUrl)('SendQuotaService refunds in Redis', () => {
  const server = redisUnderPrefix(redisUrl!, 'quota');
  const { prefix } = server;

  refundContract({
    make: () => new SendQuotaService(config(prefix), server.redis),
    // ioredis's timers stay real.
    toFake: ['Date', 'performance'],
    // Redis's clock cannot be moved on: the count's time left is shortened by as much (it is gone past its end).
    elapse: async (userId, ms) => {
      vi.advanceTimersByTime(ms);
      const key = `${prefix}sms-user:${userId}`;
      const left = (await server.redis.pttl(key)) - ms;
      if (left > 0) await server.redis.pexpire(key, left);
      else await server.redis.del(key);
    },
  });

  it('keeps the count in Redis (not in memory) and the refund there too', async () => {
    const quota = new SendQuotaService(config(prefix), server.redis);
    const taken = await quota.take('erin', 4);
    expect(await server.redis.get(`${prefix}sms-user:erin`)).toBe('4');
    await quota.refund('erin', taken!);
    expect(await server.redis.get(`${prefix}sms-user:erin`)).toBe('0');
  });

  it('gives points counted in memory (Redis down when taken) back there, not to the Redis count once Redis is back', async () => {
    const quota = new SendQuotaService(config(prefix), server.redis);
    const inRedis = await quota.take('gail', 3);
    expect(await server.redis.get(`${prefix}sms-user:gail`)).toBe('3');
    // Taken in memory while Redis was down, in a window ending when the Redis one does.
    await quota.refund('gail', { ...inRedis!, store: 'memory' });
    expect(await server.redis.get(`${prefix}sms-user:gail`)).toBe('3');
    expect(inRedis!.store).toBe('redis');
  });

  it('refunds in memory, without sending Redis anything, while Redis is not connected', async () => {
    const down = new Redis('redis://127.0.0.1:1', { maxRetriesPerRequest: 1, retryStrategy: () => 2000 });
    down.on('error', () => undefined);
    const commands = vi.spyOn(down, 'sendCommand');
    try {
      const quota = new SendQuotaService(config(prefix), down);
      const taken = await quota.take('frank', LIMIT);
      await quota.refund('frank', taken!);
      expect(await takeAll(quota, 'frank')).toBe(LIMIT);
      expect(commands.mock.calls.map(([command]) => command.name)).toEqual([]);
    } finally {
      down.disconnect();
    }
  });
});
