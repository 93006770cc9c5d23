import { Global, Inject, Injectable, Logger, Module, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { Redis } from 'ioredis';
import { AppConfig } from '../config/app-config.js';

/**
 * Injection token of the one shared ioredis client: `Redis` when `REDIS_URL` is set, `null` otherwise.
 * Features that need other connection options (a BullMQ worker's blocking connection) call
 * `client.duplicate({...})` and close what they duplicate.
 */
export const REDIS = Symbol('REDIS');

/** How long the boot waits for Redis in all (Redis down: the app boots anyway, limits counted in memory). */
export const BOOT_WAIT_MS = 2000;
/** How long a command of the shared client waits for Redis's answer (a limit's count: Redis answers in a millisecond). */
const REDIS_COMMAND_TIMEOUT_MS = 1000;
/** How long the shutdown waits for Redis to acknowledge QUIT before it drops the connection. */
const QUIT_WAIT_MS = 1000;

/**
 * The boot's one wait for Redis, shared by everything that waits for it at boot (the shared client here, BullMQ's
 * queue in BullmqDispatchQueue.start): its BOOT_WAIT_MS run from the first wait, so a Redis that accepts connections
 * but does not answer delays the boot by BOOT_WAIT_MS in all, not once per waiter (they run one after another,
 * each module's bootstrap hooks in turn).
 */
@Injectable()
export class RedisBootWait {
  /** BOOT_WAIT_MS; a test may shorten it before the first wait. */
  waitMs = BOOT_WAIT_MS;
  private deadline: number | null = null;

  /** Resolves once `ready` settles or the boot's wait is over, whichever comes first. */
  async race(ready: Promise<unknown>): Promise<void> {
    this.deadline ??= Date.now() + this.waitMs;
    const left = this.deadline - Date.now();
    if (left <= 0) return;
    let timer: NodeJS.Timeout | undefined;
    const over = new Promise<void>((resolve) => (timer = setTimeout(resolve, left)));
    await Promise.race([ready.then(noop, noop), over]);
    clearTimeout(timer);
  }
}

const noop = () => undefined;

/** Waits (a little) for the shared client at boot, and closes it when the application shuts down. */
@Injectable()
class RedisCloser implements OnApplicationBootstrap, OnApplicationShutdown {
  constructor(
    @Inject(REDIS) private readonly redis: Redis | null,
    private readonly bootWait: RedisBootWait,
  ) {}

  /**
   * Limits kept in Redis count in memory while the client is not connected (createRateLimiter): connected before the
   * app takes requests, as far as Redis answers within BOOT_WAIT_MS, so the first requests are counted by every instance.
   */
  async onApplicationBootstrap(): Promise<void> {
    const redis = this.redis;
    if (!redis || redis.status === 'ready') return;
    let done!: () => void;
    // Refused at once (Redis down): no use waiting.
    const answered = new Promise<void>((resolve) => {
      done = resolve;
      redis.once('ready', resolve);
      redis.once('error', resolve);
    });
    await this.bootWait.race(answered);
    redis.off('ready', done);
    redis.off('error', done);
  }

  async onApplicationShutdown(): Promise<void> {
    const redis = this.redis;
    if (!redis) return;
    // quit() waits for replies still due; disconnect() if the server is already gone, or does not answer within
    // QUIT_WAIT_MS (a Redis that accepts connections but hangs, a network that drops packets: quit() would wait
    // for ever, and the process would not exit on SIGTERM).
    let timer: NodeJS.Timeout | undefined;
    const quit = redis.quit().then(
      () => true,
      () => false,
    );
    const over = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), QUIT_WAIT_MS)));
    const quitted = await Promise.race([quit, over]);
    clearTimeout(timer);
    if (!quitted) redis.disconnect();
  }
}

@Global()
@Module({
  providers: [
    {
      provide: REDIS,
      inject: [AppConfig],
      useFactory: (config: AppConfig): Redis | null => {
        if (!config.redisUrl) return null;
        const logger = new Logger('Redis');
        // A command waits for at most a few reconnections, so a Redis outage fails requests in seconds
        // (the sign-in throttle then falls back to per-instance counting) rather than hanging them.
        // A command Redis does not answer within REDIS_COMMAND_TIMEOUT_MS fails (the limits then count in memory):
        // a Redis that hangs, or a network dropping packets, keeps the connection open without an error, and the
        // requests that count a limit would wait for it as long as TCP takes to give up (minutes).
        const client = new Redis(config.redisUrl, {
          maxRetriesPerRequest: 2,
          connectionName: 'sms-backbone',
          commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
        });
        // Without a listener ioredis prints every connection error itself; one line, never the URL (it may hold a password).
        let reported = false;
        client.on('error', (error: Error) => {
          if (reported) return;
          reported = true;
          logger.error(`Redis connection failed: ${error.message}`);
        });
        client.on('ready', () => {
          reported = false;
        });
        return client;
      },
    },
    RedisBootWait,
    RedisCloser,
  ],
  exports: [REDIS, RedisBootWait],
})
export class RedisModule {}
