import { BullModule, getQueueToken } from '@nestjs/bullmq';
import { Global, Module } from '@nestjs/common';
import type { Queue, RedisOptions } from 'bullmq';
import { AppConfig } from '../../config/app-config.js';

/** `@InjectQueue(SMS_DISPATCH_QUEUE)`: the queue's token (its Redis name is `SMS_QUEUE_NAME`). */
export const SMS_DISPATCH_QUEUE = 'sms-dispatch';

/**
 * BullMQ's connections (it opens and closes its own: the queue's, and the worker's two). They reconnect
 * every 2 s at most, so the dispatcher is back within seconds of Redis. The queue's commands fail after
 * one reconnection (the caller answers, a sweep queues the rows later), and, once connected, when Redis leaves
 * them unanswered for QUEUE_COMMAND_TIMEOUT_MS (set by BullmqDispatchQueue); the worker's wait for Redis.
 */
export function bullmqConnection(redisUrl: string, role: 'queue' | 'worker'): RedisOptions {
  return {
    url: redisUrl,
    connectionName: `sms-backbone:${role}`,
    maxRetriesPerRequest: role === 'queue' ? 1 : null,
    retryStrategy: (times: number) => Math.min(250 * times, 2000),
  };
}

/**
 * BullMQ's key prefix: under REDIS_KEY_PREFIX like every other key of the app, so deployments with their own
 * prefix never share a queue or its rate limit. Keys: `<REDIS_KEY_PREFIX>bull:<SMS_QUEUE_NAME>:…`.
 */
export function bullmqPrefix(redisKeyPrefix: string): string {
  return `${redisKeyPrefix}bull`;
}

/**
 * Imported by AppModule only when REDIS_URL is set (without it nothing of BullMQ is registered and Redis is
 * never needed): `@nestjs/bullmq`'s shared connection and the SMS queue, global so SmsModule can take the
 * queue when it builds its dispatcher (the worker is that dispatcher's `@Processor`).
 */
const smsQueue = BullModule.registerQueueAsync({
  name: SMS_DISPATCH_QUEUE,
  inject: [AppConfig],
  useFactory: (config: AppConfig) => ({ name: config.dispatch.queueName }),
});

@Global()
@Module({
  imports: [
    BullModule.forRootAsync({
      inject: [AppConfig],
      useFactory: (config: AppConfig) => ({
        connection: bullmqConnection(config.redisUrl!, 'queue'),
        prefix: bullmqPrefix(config.redisKeyPrefix),
      }),
    }),
    smsQueue,
  ],
  providers: [
    {
      // BullMQ prints a connection error itself when its queue has no listener yet (Redis down at boot, before
      // the dispatcher that reports them exists): this one is there from the queue's creation.
      provide: 'SMS_DISPATCH_QUEUE_ERRORS',
      inject: [getQueueToken(SMS_DISPATCH_QUEUE)],
      useFactory: (queue: Queue) => queue.on('error', () => undefined),
    },
  ],
  exports: [smsQueue],
})
export class SmsBullmqModule {}
