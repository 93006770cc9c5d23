import { Injectable } from '@nestjs/common';
import { OnEvent } from '@nestjs/event-emitter';
import { InjectRepository } from '@nestjs/typeorm';
import { IsNull, MoreThan, Repository } from 'typeorm';
import { Clock } from '../common/clock.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { QUIET_HOURS, SMS_EVENTS, SMS_WENT_STATUSES, type SmsMessageUpdatedEvent } from '../sms/sms.events.js';
import { Appointment, AppointmentStatus } from './appointment.entity.js';
import { ReminderPolicy } from './reminder-policy.js';

export const REMINDER_TEMPLATE = 'appointment_reminder';

/**
 * Makes `reminder_sent_at` tell the truth: it is set when the SMS side reports that an
 * appointment's reminder was taken by the provider, not when the reminder is claimed. A failed
 * reminder leaves it null (the message is retried by the SMS side); one stopped by quiet hours is due
 * again when they end. A report about an older reminder that arrives after a reschedule (a new reminder
 * is due again) changes nothing.
 */
@Injectable()
export class ReminderDeliveryListener {
  constructor(
    @InjectRepository(Appointment) private readonly appointments: Repository<Appointment>,
    private readonly metrics: MetricsService,
    private readonly policy: ReminderPolicy,
    private readonly clock: Clock,
  ) {}

  @OnEvent(SMS_EVENTS.messageUpdated, { suppressErrors: false })
  async onMessageUpdated(input: SmsMessageUpdatedEvent | { payload: SmsMessageUpdatedEvent }): Promise<void> {
    // In memory the event is the payload itself; through the outbox it comes in an envelope.
    const event = 'payload' in input ? input.payload : input;
    if (event.templateType !== REMINDER_TEMPLATE || event.relatedType !== 'appointment' || !event.relatedId) return;
    if (event.errorCode === QUIET_HOURS) return this.dueAgainAfterQuietHours(event.relatedId);
    if (!SMS_WENT_STATUSES.has(event.status)) return;
    const id = event.relatedId;
    const result = await this.appointments.update(
      { id, reminderDueAt: IsNull(), reminderSentAt: IsNull() },
      { reminderSentAt: new Date(event.at) },
    );
    // Counted once per reminder that really went (appointment_reminders_sent_total), as reminder_sent_at.
    if (result.affected === 1) this.metrics.reminderSent();
  }

  /**
   * A reminder stopped by quiet hours (its retry fell in them): a new one is due when they end (at once if
   * this report comes after them), if the appointment is still confirmed, has no other reminder due or sent
   * (it was not moved meanwhile) and starts after that. The scan sends it then, as any due reminder, after
   * checking again that the appointment is still ahead.
   */
  private async dueAgainAfterQuietHours(id: string): Promise<void> {
    const now = this.clock.now();
    const due = this.policy.quietWindowAt(now)?.end ?? now;
    await this.appointments.update(
      { id, status: AppointmentStatus.Confirmed, reminderDueAt: IsNull(), reminderSentAt: IsNull(), startsAt: MoreThan(due) },
      { reminderDueAt: due },
    );
  }
}
