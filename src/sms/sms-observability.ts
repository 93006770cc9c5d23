import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { IsNull, LessThanOrEqual, MoreThan, Repository } from 'typeorm';
import { Clock } from '../common/clock.js';
import { AppConfig } from '../config/app-config.js';
import { ReadinessIndicator, ReadinessRegistry, ReadinessState } from '../health/readiness.registry.js';
import { MetricsService, QueueSnapshot } from '../metrics/metrics.service.js';
import { SMS_PROVIDER, type SmsProvider } from './providers/sms-provider.js';
import { SmsMessage } from './sms-message.entity.js';

/** Our own "waiting to leave" state in sms_messages (Twilio's `queued` comes with a SID). */
export const SMS_QUEUED = 'queued';

/**
 * What the SMS side tells operations: the queue gauges Prometheus reads at each scrape (three indexed
 * queries on sms_messages), and whether the provider is configured (GET /api/health/ready).
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
  ) {}

  onModuleInit(): void {
    this.metrics.setQueueProbe(() => this.queueSnapshot());
    this.readinessRegistry.register(this);
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
