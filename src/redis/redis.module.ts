import { Global, Inject, Injectable, Logger, Module, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { Redis } from 'ioredis';
import { AppConfig } from '../config/app-config.js';

/**
 * Injection token of the one shared ioredis client: `Redis` when `REDIS_URL` is set, `null` otherwise.
 * Its commands time out after REDIS_COMMAND_TIMEOUT_MS: nothing blocking may use it (a duplicate() copies that
 * setting; BullMQ opens its own connections, see bullmqConnection).
 */
export const REDIS = Symbol('REDIS');

/** How long the boot waits for Redis in all (Redis down: the app boots anyway, limits counted in memory). */
export const BOOT_WAIT_MS = 2000;
/** How long a command of the shared client waits for Redis's answer (a limit's count: Redis answers in a millisecond). */
const REDIS_COMMAND_TIMEOUT_MS = 1000;

/**
 * The boot's one allowance for waiting on Redis, shared by everything that waits for it at boot (the shared client
 * here, BullMQ's queue in BullmqDispatchQueue.start): BOOT_WAIT_MS of waiting in all, so a Redis that accepts
 * connections but does not answer delays the boot by BOOT_WAIT_MS, not once per waiter (they run one after another,
 * each module's bootstrap hooks in turn). Only the time spent waiting counts, not the other hooks' in between.
 */
@Injectable()
export class RedisBootWait {
  private spentMs = 0;

  /** Resolves once `ready` settles or the boot's allowance is used up, whichever comes first. */
  async race(ready: Promise<unknown>): Promise<void> {
    const left = BOOT_WAIT_MS - this.spentMs;
    if (left <= 0) return;
    const started = Date.now();
    let timer: NodeJS.Timeout | undefined;
    const over = new Promise<void>((resolve) => (timer = setTimeout(resolve, left)));
    await Promise.race([ready.then(noop, noop), over]);
    clearTimeout(timer);
    this.spentMs += Date.now() - started;
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
    // REDIS_COMMAND_TIMEOUT_MS (a Redis that accepts connections but hangs, a network that drops packets: quit()
    // waited for ever before that timeout, and the process did not exit on SIGTERM).
    await redis.quit().catch(() => redis.disconnect());
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
          // A command that timed out was counted in memory instead; resent after a reconnection, it would count twice.
          autoResendUnfulfilledCommands: false,
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
