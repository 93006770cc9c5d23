import { Injectable } from '@nestjs/common';
import { Clock } from '../../common/clock.js';
import { quietWindowAt } from '../../common/quiet-hours.js';
import { AppConfig, type QuietHours } from '../../config/app-config.js';
import { MarketingPolicy } from '../marketing/marketing-policy.js';
import type { SmsMessage } from '../sms-message.entity.js';

/** The template of an appointment's reminder (sent by the appointments' reminder scan through SmsService). */
const REMINDER_TYPE = 'appointment_reminder';

/**
 * Whether a claimed message may leave now, asked by SmsDispatcher right before each attempt (the first, a
 * retry, a message left by a crash): the hours a message is held outside of, whatever path brought it there.
 * - marketing: only within SMS_MARKETING_HOURS, never on a public holiday (MarketingPolicy);
 * - an appointment's reminder: never during QUIET_HOURS (the scan does not send then, but a retry of a
 *   reminder claimed just before them, or one whose event was delivered late, would), held until they end.
 * Other messages (confirmations, cancellations, manual sends) leave at any hour.
 */
@Injectable()
export class SendHours {
  private readonly quietHours: QuietHours | null;
  private readonly timeZone: string;

  constructor(
    private readonly marketing: MarketingPolicy,
    config: AppConfig,
    private readonly clock: Clock,
  ) {
    this.quietHours = config.reminders.quietHours;
    this.timeZone = config.defaultTimeZone;
  }

  /** Null when the message may leave now; else until when it waits, and why (for the log). */
  heldUntil(message: Pick<SmsMessage, 'category' | 'templateType' | 'relatedType'>): { until: Date; why: string } | null {
    const opening = this.marketing.heldUntil(message.category);
    if (opening) return { until: opening, why: 'marketing hours closed' };
    if (this.quietHours && message.templateType === REMINDER_TYPE && message.relatedType === 'appointment') {
      const quiet = quietWindowAt(this.clock.now(), this.quietHours, this.timeZone);
      if (quiet) return { until: quiet.end, why: 'reminder in quiet hours' };
    }
    return null;
  }
}
