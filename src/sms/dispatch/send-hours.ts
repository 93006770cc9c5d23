import { Injectable } from '@nestjs/common';
import { REMINDER_TEMPLATE } from '../../appointments/appointment.events.js';
import { Clock } from '../../common/clock.js';
import { quietWindowInAny } from '../../common/quiet-hours.js';
import { AppConfig, type QuietHours } from '../../config/app-config.js';
import { PhoneNumberService } from '../../phone/phone-number.service.js';
import { quietHoursZones } from '../../phone/region-time-zones.js';
import { MarketingPolicy } from '../marketing/marketing-policy.js';
import type { SmsMessage } from '../sms-message.entity.js';

/**
 * Whether a claimed message may leave now, asked by SmsDispatcher right before each attempt (the first, a
 * retry, a message left by a crash), whatever path brought it there:
 * - marketing: only within SMS_MARKETING_HOURS in the recipient's zone, never on a public holiday (MarketingPolicy):
 *   held until then;
 * - an appointment's reminder: never during QUIET_HOURS, in DEFAULT_TIMEZONE nor in the client's own zone
 *   (quietHoursZones: a Réunion number's night too). The scan does not send then, but a retry of a
 *   reminder claimed just before them, or one whose event was delivered late, would. It is dropped, failed
 *   with QUIET_HOURS; the appointments side, told by `sms.message.updated`, makes a new reminder due at the end
 *   of quiet hours when the appointment is still confirmed and starts after them (ReminderDeliveryListener).
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
    private readonly phones: PhoneNumberService,
  ) {
    this.quietHours = config.reminders.quietHours;
    this.timeZone = config.defaultTimeZone;
  }

  /**
   * Null when the message may leave now as far as its hours go; else `hold` (a marketing message: queued again
   * until the next opening) or `drop` (an appointment's reminder in quiet hours: why it is not sent).
   */
  verdict(message: Pick<SmsMessage, 'category' | 'templateType' | 'relatedType' | 'to'>): { hold: Date } | { drop: string } | null {
    const opening = this.marketing.heldUntil(message.category, message.to);
    if (opening) return { hold: opening };
    if (!this.quietHours || message.templateType !== REMINDER_TEMPLATE || message.relatedType !== 'appointment') return null;
    const zones = message.to ? quietHoursZones(this.phones.format(message.to).country, this.timeZone) : [this.timeZone];
    return quietWindowInAny(this.clock.now(), this.quietHours, zones)
      ? { drop: 'Not sent: quiet hours (QUIET_HOURS) began before Twilio took this reminder' }
      : null;
  }
}
