import { BOOT_WAIT_MS, RedisBootWait } from './redis.module.js';

const never = () => new Promise<void>(() => undefined);
const after = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

describe(RedisBootWait.name, () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  /** Resolves a flag once `wait` is over. */
  const watch = (wait: Promise<void>) => {
    const state = { over: false };
    void wait.then(() => (state.over = true));
    return state;
  };

  it('waits for Redis at most BOOT_WAIT_MS in all: a second waiter gets what the first left, not its own BOOT_WAIT_MS', async () => {
    const sut = new RedisBootWait();
    // The shared client's wait, then BullMQ's once the first is over (the bootstrap hooks run one after another).
    const first = watch(sut.race(never()));
    await vi.advanceTimersByTimeAsync(BOOT_WAIT_MS - 1);
    expect(first.over).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(first.over).toBe(true);
    const second = watch(sut.race(never()));
    await vi.advanceTimersByTimeAsync(0);
    expect(second.over).toBe(true);
  });

  it('counts only the time spent waiting: what other boot hooks take in between is not taken from the next waiter', async () => {
    const sut = new RedisBootWait();
    // Redis answers the shared client after 1.5 s; 5 s of other boot hooks; then BullMQ's queue never connects.
    await Promise.all([sut.race(after(1500)), vi.advanceTimersByTimeAsync(1500)]);
    await vi.advanceTimersByTimeAsync(5000);
    const second = watch(sut.race(never()));
    await vi.advanceTimersByTimeAsync(499);
    expect(second.over).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(second.over).toBe(true);
  });

  it('ends as soon as Redis answers (or refuses at once), whatever is left of the wait', async () => {
    const sut = new RedisBootWait();
    const up = watch(sut.race(Promise.resolve()));
    const refused = watch(sut.race(Promise.reject(new Error('ECONNREFUSED'))));
    await vi.advanceTimersByTimeAsync(0);
    expect([up.over, refused.over]).toEqual([true, true]);
    expect(vi.getTimerCount()).toBe(0);
  });
});
