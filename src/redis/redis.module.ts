import { Global, Inject, Injectable, Logger, Module, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { Redis } from 'ioredis';
import { AppConfig } from '../config/app-config.js';

/**
 * Injection token of the one shared ioredis client: `Redis` when `REDIS_URL` is set, `null` otherwise.
 * Features that need other connection options (a BullMQ worker's blocking connection) call
 * `client.duplicate({...})` and close what they duplicate.
 */
export const REDIS = Symbol('REDIS');

/** How long the boot waits for the shared client (Redis down: the app boots anyway, limits counted in memory). */
const BOOT_WAIT_MS = 2000;

/** Waits (a little) for the shared client at boot, and closes it when the application shuts down. */
@Injectable()
class RedisCloser implements OnApplicationBootstrap, OnApplicationShutdown {
  constructor(@Inject(REDIS) private readonly redis: Redis | null) {}

  /**
   * Limits kept in Redis count in memory while the client is not connected (createRateLimiter): connected before the
   * app takes requests, as far as Redis answers within BOOT_WAIT_MS, so the first requests are counted by every instance.
   */
  async onApplicationBootstrap(): Promise<void> {
    const redis = this.redis;
    if (!redis || redis.status === 'ready') return;
    let done!: () => void;
    const timer = setTimeout(() => done(), BOOT_WAIT_MS);
    // Refused at once (Redis down): no use waiting.
    await new Promise<void>((resolve) => {
      done = resolve;
      redis.once('ready', resolve);
      redis.once('error', resolve);
    });
    clearTimeout(timer);
    redis.off('ready', done);
    redis.off('error', done);
  }

  async onApplicationShutdown(): Promise<void> {
    if (!this.redis) return;
    // quit() waits for replies still due; disconnect() if the server is already gone.
    await this.redis.quit().catch(() => this.redis!.disconnect());
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
        const client = new Redis(config.redisUrl, { maxRetriesPerRequest: 2, connectionName: 'sms-backbone' });
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
    RedisCloser,
  ],
  exports: [REDIS],
})
export class RedisModule {}
