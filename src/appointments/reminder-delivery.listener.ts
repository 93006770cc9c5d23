import { Injectable } from '@nestjs/common';
import { OnEvent } from '@nestjs/event-emitter';
import { InjectRepository } from '@nestjs/typeorm';
import { And, Brackets, Equal, IsNull, MoreThan, Repository } from 'typeorm';
import { Clock } from '../common/clock.js';
import { RelatedMessages } from '../common/related-messages.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { OUTDATED, QUIET_HOURS, SMS_EVENTS, SMS_WENT_STATUSES, type SmsMessageUpdatedEvent } from '../sms/sms.events.js';
import { Appointment, AppointmentStatus } from './appointment.entity.js';
import { parseAppointmentSmsVersion, REMINDER_TEMPLATE } from './appointment.events.js';
import { ReminderPolicy } from './reminder-policy.js';

/**
 * Makes `reminder_sent_at` tell the truth: it is set when the SMS side reports that an
 * appointment's reminder was taken by the provider, not when the reminder is claimed. A failed
 * reminder leaves it null (the message is retried by the SMS side); one dropped by quiet hours, or outdated
 * by a new client number, is due again (see dueAgain). A report about an older reminder that arrives after a reschedule (a new reminder
 * is due again) changes nothing.
 */
@Injectable()
export class ReminderDeliveryListener {
  constructor(
    @InjectRepository(Appointment) private readonly appointments: Repository<Appointment>,
    private readonly metrics: MetricsService,
    private readonly policy: ReminderPolicy,
    private readonly clock: Clock,
    private readonly messages: RelatedMessages,
  ) {}

  @OnEvent(SMS_EVENTS.messageUpdated, { suppressErrors: false })
  async onMessageUpdated(input: SmsMessageUpdatedEvent | { payload: SmsMessageUpdatedEvent }): Promise<void> {
    // In memory the event is the payload itself; through the outbox it comes in an envelope.
    const event = 'payload' in input ? input.payload : input;
    if (event.templateType !== REMINDER_TEMPLATE || event.relatedType !== 'appointment' || !event.relatedId) return;
    // Written for the start the appointment still has (when the report says): a report about an older time, whose
    // appointment was moved (a new reminder is due already), arms nothing. Outdated: only a new number re-arms
    // (moved: see above; cancelled or started: the other conditions of dueAgain).
    const version = event.relatedVersion ? parseAppointmentSmsVersion(event.relatedVersion) : null;
    const writtenFor = version ? new Date(version.startsAt) : undefined;
    if (event.errorCode === QUIET_HOURS) return this.dueAgain(event.relatedId, event.messageId, writtenFor);
    if (event.errorCode === OUTDATED) return writtenFor ? this.dueAgain(event.relatedId, event.messageId, writtenFor) : undefined;
    if (!SMS_WENT_STATUSES.has(event.status)) return;
    const id = event.relatedId;
    // Only a reminder written for the start the appointment has is its reminder: one that went for an older time,
    // answered after a move, leaves reminder_sent_at to the new one (sent, failed or re-armed). A reminder that went to
    // a number changed since still went (a number change does not schedule another).
    const result = await this.appointments.update(
      { id, reminderDueAt: IsNull(), reminderSentAt: IsNull(), ...(writtenFor ? { startsAt: writtenFor } : {}) },
      { reminderSentAt: new Date(event.at) },
    );
    // Counted once per reminder that really went (appointment_reminders_sent_total), as reminder_sent_at.
    if (result.affected === 1) this.metrics.reminderSent();
  }

  /**
   * A reminder dropped before it left: stopped by quiet hours (its retry fell in them), or outdated (its client
   * number changed while it waited; a move arms its own new reminder, a cancellation none). A new one is due when
   * quiet hours end (at once outside them), if the appointment is still confirmed, has no other reminder due or
   * sent, starts after that, and the dropped one is its latest reminder and did not re-arm it already: the report
   * of an older one, or this report delivered again, arms nothing. The scan sends it like any due
   * reminder, after checking again that the appointment is still ahead.
   */
  private async dueAgain(id: string, messageId: string, startsAt?: Date): Promise<void> {
    const reminders = (await this.messages.findRelated('appointment', id)).filter((m) => m.type === REMINDER_TEMPLATE);
    if (reminders.at(-1)?.id !== messageId) return;
    // Quiet hours are the client's too: its number now (a corrected number re-arms for the new one).
    const current = await this.appointments.findOne({ where: { id }, select: { id: true, clientPhone: true } });
    if (!current) return;
    const due = this.policy.dueAgainAt(this.clock.now(), current.clientPhone);
    await this.appointments
      .createQueryBuilder()
      .update()
      .set({ reminderDueAt: due, reminderRearmedFor: messageId })
      .where({
        id,
        status: AppointmentStatus.Confirmed,
        reminderDueAt: IsNull(),
        reminderSentAt: IsNull(),
        startsAt: startsAt ? And(MoreThan(due), Equal(startsAt)) : MoreThan(due),
      })
      // This drop's report delivered again (at least once) while the new reminder is under way: nothing more.
      .andWhere(new Brackets((w) => w.where('reminder_rearmed_for IS NULL').orWhere('reminder_rearmed_for <> :messageId', { messageId })))
      .execute();
  }
}
