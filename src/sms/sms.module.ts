import { getQueueToken } from '@nestjs/bullmq';
import { BeforeApplicationShutdown, Inject, Logger, Module, OnApplicationBootstrap } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { Queue } from 'bullmq';
import { AuditLog } from '../audit/audit-log.entity.js';
import { AppConfig } from '../config/app-config.js';
import { Atomic } from '../database/atomic.js';
import { BullmqDispatchQueue } from './dispatch/bullmq-dispatch-queue.js';
import { DISPATCH_QUEUE, type DispatchQueue } from './dispatch/dispatch-queue.js';
import { InlineDispatchQueue } from './dispatch/inline-dispatch-queue.js';
import { SMS_DISPATCH_QUEUE } from './dispatch/sms-bullmq.module.js';
import { SmsDispatcher } from './dispatch/sms-dispatcher.js';
import { SmsOutbox } from './dispatch/sms-outbox.js';
import { maskPhone } from '../common/log-safe.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { MarketingPolicy } from './marketing/marketing-policy.js';
import { SendHours } from './dispatch/send-hours.js';
import { ProviderCircuit } from './dispatch/provider-circuit.js';
import { SmsOptOutsModule } from './opt-outs/opt-outs.module.js';
import { SmsStatsModule } from './stats/sms-stats.module.js';
import { SmsWebhooksModule } from './webhooks/sms-webhooks.module.js';
import { AppointmentSmsListener } from './listeners/appointment-sms.listener.js';
import { DryRunSmsProvider } from './providers/dry-run-sms.provider.js';
import { SMS_PROVIDER, type SmsProvider } from './providers/sms-provider.js';
import { TwilioSmsProvider } from './providers/twilio-sms.provider.js';
import { SmsBatch } from './sms-batch.entity.js';
import { SmsBatchesService } from './sms-batches.service.js';
import { RedisBootWait } from '../redis/redis.module.js';
import { SmsMessage } from './sms-message.entity.js';
import { SmsMessagesService } from './sms-messages.service.js';
import { SmsController } from './sms.controller.js';
import { SmsObservability } from './sms-observability.js';
import { SmsService } from './sms.service.js';
import { DEFAULT_TIME_ZONE, SmsTemplateService } from './templates/sms-template.service.js';

/** Picks the provider once at boot and says which. */
function createProvider(config: AppConfig, metrics: MetricsService): SmsProvider {
  const logger = new Logger('SmsModule');
  if (config.sms.provider === 'twilio') {
    const provider = new TwilioSmsProvider(config, metrics);
    logger.log(`SMS provider: twilio (sender ${maskPhone(provider.sender)})`);
    return provider;
  }
  logger.warn(
    config.sms.providerExplicit
      ? 'SMS provider: dry-run (SMS_PROVIDER=dry-run) — no SMS is sent; remove SMS_PROVIDER or set it to twilio to send'
      : 'SMS provider: dry-run — no SMS is sent (set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_PHONE_NUMBER to send)',
  );
  return new DryRunSmsProvider();
}

/**
 * Picks the dispatch queue once at boot: with REDIS_URL, BullMQ shared by every instance (AppModule then imports
 * SmsBullmqModule, whose queue arrives here; the returned object is that queue's `@Processor`), else in-process.
 */
function createQueue(
  config: AppConfig,
  outbox: SmsOutbox,
  dispatcher: SmsDispatcher,
  circuit: ProviderCircuit,
  bootWait: RedisBootWait,
  queue: Queue | null,
): DispatchQueue {
  const { maxConcurrency, maxPerSecond } = config.dispatch;
  const limits = `at most ${maxConcurrency} in flight and ${maxPerSecond} started per second`;
  if (config.redisUrl) {
    if (!queue) throw new Error('REDIS_URL is set but SmsBullmqModule is not imported');
    new Logger('SmsModule').log(`SMS dispatch: BullMQ queue "${config.dispatch.queueName}" shared by every instance, ${limits}`);
    return new (BullmqDispatchQueue.configured(config))(queue, outbox, dispatcher, config.dispatch, bootWait);
  }
  const inline = new InlineDispatchQueue(outbox, dispatcher, config.dispatch, circuit, config.twilio.timeoutMs);
  const fewer =
    inline.maxInFlight < maxConcurrency ? ` (${inline.maxInFlight} in flight: more would outwait their lease at that rate)` : '';
  new Logger('SmsModule').log(`SMS dispatch: in-process, ${limits}${fewer} (this instance)`);
  return inline;
}

@Module({
  imports: [TypeOrmModule.forFeature([SmsMessage, SmsBatch, AuditLog]), SmsOptOutsModule, SmsWebhooksModule, SmsStatsModule],
  controllers: [SmsController],
  providers: [
    { provide: SMS_PROVIDER, inject: [AppConfig, MetricsService], useFactory: createProvider },
    { provide: DEFAULT_TIME_ZONE, inject: [AppConfig], useFactory: (config: AppConfig) => config.defaultTimeZone },
    {
      provide: DISPATCH_QUEUE,
      inject: [
        AppConfig,
        SmsOutbox,
        SmsDispatcher,
        ProviderCircuit,
        RedisBootWait,
        { token: getQueueToken(SMS_DISPATCH_QUEUE), optional: true },
      ],
      useFactory: createQueue,
    },
    Atomic,
    SmsOutbox,
    SmsDispatcher,
    SmsBatchesService,
    SmsTemplateService,
    SmsService,
    MarketingPolicy,
    SendHours,
    ProviderCircuit,
    SmsMessagesService,
    AppointmentSmsListener,
    SmsObservability,
  ],
  exports: [SmsService, SmsMessagesService, SmsTemplateService, SmsOptOutsModule],
})
export class SmsModule implements OnApplicationBootstrap, BeforeApplicationShutdown {
  constructor(
    @Inject(DISPATCH_QUEUE) private readonly queue: DispatchQueue,
    private readonly dispatcher: SmsDispatcher,
  ) {}

  /** Sending starts once the app (and its migrations) is up; rows left by a previous run go out then. */
  onApplicationBootstrap(): Promise<void> {
    return this.queue.start();
  }

  /**
   * Before the database closes: in-flight calls finish and store their answers; what was not claimed
   * waits for the next start. Then requests still waiting on their message (and any arriving while the
   * server closes) answer at once with it as it is (202 `queued`: stored, sent after the restart, or by
   * another instance) instead of waiting SMS_SEND_WAIT_MS for a dispatcher that has stopped.
   */
  async beforeApplicationShutdown(): Promise<void> {
    await this.queue.stop();
    this.dispatcher.halt();
  }
}
