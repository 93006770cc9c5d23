import { Injectable, Logger } from '@nestjs/common';
import { AuditAction } from '../../audit/audit-action.enum.js';
import { AuditService } from '../../audit/audit.service.js';
import { Clock } from '../../common/clock.js';
import { REFUSAL_THROTTLE_DEFAULTS, RefusalJournalThrottle } from '../../audit/refusal-journal-throttle.js';
import type { WebhookRefusalReason } from './webhook-refusals.js';

/**
 * Journals refused webhook calls as `sms_webhook_refused`, throttled by {@link RefusalJournalThrottle}: the
 * metric and WebhookRefusals still count every refusal (the guard counts them before calling this).
 */
@Injectable()
export class WebhookRefusalJournal {
  private readonly logger = new Logger('TwilioWebhooks');
  private readonly throttle = new RefusalJournalThrottle();

  constructor(
    private readonly audit: AuditService,
    private readonly clock: Clock,
  ) {}

  async refused(route: string, reason: WebhookRefusalReason, ip: string): Promise<void> {
    const decision = this.throttle.refused(`${ip}\n${route}\n${reason}`, this.clock.now().getTime());
    if (!decision.journal) {
      if (decision.capReached)
        this.logger.warn(
          `More than ${REFUSAL_THROTTLE_DEFAULTS.maxEntriesPerWindow} refused webhook calls journaled this minute: the next ones are counted (sms_webhooks_total) and journaled later, summed`,
        );
      return;
    }
    await this.audit.record({
      action: AuditAction.SmsWebhookRefused,
      actor: null,
      target: { type: 'sms_webhook', id: route },
      // `count` and `refusedSince` only when the entry stands for refusals not journaled before it.
      metadata:
        decision.count > 1
          ? { route, reason, count: decision.count, refusedSince: new Date(decision.refusedSince).toISOString() }
          : { route, reason },
      ip,
    });
  }
}
