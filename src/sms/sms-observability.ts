import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { IsNull, LessThanOrEqual, MoreThan, Repository } from 'typeorm';
import { Clock } from '../common/clock.js';
import { AppConfig } from '../config/app-config.js';
import { ReadinessIndicator, ReadinessRegistry, ReadinessState } from '../health/readiness.registry.js';
import { MetricsService, QueueSnapshot } from '../metrics/metrics.service.js';
import { SMS_PROVIDER, type SmsProvider } from './providers/sms-provider.js';
import { DISPATCH_QUEUE, type DispatchQueue } from './dispatch/dispatch-queue.js';
import { SMS_QUEUED, SmsMessage } from './sms-message.entity.js';

/**
 * What the SMS side tells operations: the queue gauges Prometheus reads at each scrape (indexed queries
 * on sms_messages; with BullMQ, its own exposition too), and for GET /api/health/ready whether the
 * provider is configured and the dispatcher running.
 */
@Injectable()
export class SmsObservability implements OnModuleInit, ReadinessIndicator {
  readonly readinessName = 'sms-provider';

  constructor(
    @InjectRepository(SmsMessage) private readonly messages: Repository<SmsMessage>,
    @Inject(SMS_PROVIDER) private readonly provider: SmsProvider,
    private readonly metrics: MetricsService,
    private readonly readinessRegistry: ReadinessRegistry,
    private readonly config: AppConfig,
    private readonly clock: Clock,
    @Inject(DISPATCH_QUEUE) private readonly queue: DispatchQueue,
  ) {}

  onModuleInit(): void {
    this.metrics.setQueueProbe(() => this.queueSnapshot());
    this.readinessRegistry.register(this);
    // The dispatcher is ready between the queue's start (application bootstrap) and its stop.
    this.readinessRegistry.register({ readinessName: 'dispatcher', readiness: () => this.queue.readiness() });
    const exportMetrics = this.queue.exportMetrics?.bind(this.queue);
    if (exportMetrics) this.metrics.addExporter('bullmq', exportMetrics);
  }

  /** Twilio with its credentials and sender (checked at boot), or dry-run chosen explicitly or outside production. */
  readiness(): ReadinessState {
    if (this.provider.name === 'twilio') return { ready: !!this.provider.sender, detail: 'twilio' };
    if (this.config.isProduction && !this.config.sms.providerExplicit) {
      return { ready: false, detail: 'no SMS provider configured (Twilio credentials missing)' };
    }
    return { ready: true, detail: this.provider.name };
  }

  /** Queued rows not yet handed to the provider: due now, scheduled later, and how long the oldest due one has waited. */
  async queueSnapshot(): Promise<QueueSnapshot> {
    const now = this.clock.now();
    const queued = { status: SMS_QUEUED, providerSid: IsNull() };
    const [withoutTime, dueLater, scheduled, oldestUntimed, oldestTimed] = await Promise.all([
      this.messages.count({ where: { ...queued, notBefore: IsNull() } }),
      this.messages.count({ where: { ...queued, notBefore: LessThanOrEqual(now) } }),
      this.messages.count({ where: { ...queued, notBefore: MoreThan(now) } }),
      this.messages.findOne({
        select: { id: true, createdAt: true },
        where: { ...queued, notBefore: IsNull() },
        order: { createdAt: 'ASC' },
      }),
      this.messages.findOne({
        select: { id: true, notBefore: true },
        where: { ...queued, notBefore: LessThanOrEqual(now) },
        order: { notBefore: 'ASC' },
      }),
    ]);
    const since = [oldestUntimed?.createdAt, oldestTimed?.notBefore].filter((d): d is Date => d instanceof Date);
    const oldest = since.length ? Math.min(...since.map((d) => d.getTime())) : null;
    return {
      due: withoutTime + dueLater,
      scheduled,
      oldestDueAgeSeconds: oldest === null ? 0 : Math.max(0, (now.getTime() - oldest) / 1000),
    };
  }
}
