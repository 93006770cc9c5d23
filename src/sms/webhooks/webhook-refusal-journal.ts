import { Injectable, Logger } from '@nestjs/common';
import { AuditAction } from '../../audit/audit-action.enum.js';
import { AuditService } from '../../audit/audit.service.js';
import { RefusalJournal } from '../../audit/refusal-journal.js';
import { Clock } from '../../common/clock.js';
import type { WebhookRefusalReason } from './webhook-refusals.js';

/**
 * Journals refused webhook calls as `sms_webhook_refused`, throttled per client IP, route and reason
 * ({@link RefusalJournal}): the metric and WebhookRefusals still count every refusal (the guard counts them before
 * calling this).
 */
@Injectable()
export class WebhookRefusalJournal extends RefusalJournal {
  constructor(audit: AuditService, clock: Clock) {
    super(audit, clock, new Logger('TwilioWebhooks'), 'refused webhook calls');
  }

  refused(route: string, reason: WebhookRefusalReason, ip: string): Promise<void> {
    return this.journal(`${ip}\n${route}\n${reason}`, (summed) => ({
      action: AuditAction.SmsWebhookRefused,
      actor: null,
      target: { type: 'sms_webhook', id: route },
      metadata: { route, reason, ...summed },
      ip,
    }));
  }
}
