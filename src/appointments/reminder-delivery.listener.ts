import { Injectable } from '@nestjs/common';
import { OnEvent } from '@nestjs/event-emitter';
import { InjectRepository } from '@nestjs/typeorm';
import { IsNull, Repository } from 'typeorm';
import { MetricsService } from '../metrics/metrics.service.js';
import { SMS_EVENTS, SMS_WENT_STATUSES, type SmsMessageUpdatedEvent } from '../sms/sms.events.js';
import { Appointment } from './appointment.entity.js';

export const REMINDER_TEMPLATE = 'appointment_reminder';

/**
 * Makes `reminder_sent_at` tell the truth: it is set when the SMS side reports that an
 * appointment's reminder was taken by the provider, not when the reminder is claimed. A failed
 * reminder leaves it null (the message is retried by the SMS side). A report about an older
 * reminder that arrives after a reschedule (a new reminder is due again) changes nothing.
 */
@Injectable()
export class ReminderDeliveryListener {
  constructor(
    @InjectRepository(Appointment) private readonly appointments: Repository<Appointment>,
    private readonly metrics: MetricsService,
  ) {}

  @OnEvent(SMS_EVENTS.messageUpdated, { suppressErrors: false })
  async onMessageUpdated(input: SmsMessageUpdatedEvent | { payload: SmsMessageUpdatedEvent }): Promise<void> {
    // In memory the event is the payload itself; through the outbox it comes in an envelope.
    const event = 'payload' in input ? input.payload : input;
    if (event.templateType !== REMINDER_TEMPLATE || event.relatedType !== 'appointment' || !event.relatedId) return;
    if (!SMS_WENT_STATUSES.has(event.status)) return;
    const id = event.relatedId;
    const result = await this.appointments.update(
      { id, reminderDueAt: IsNull(), reminderSentAt: IsNull() },
      { reminderSentAt: new Date(event.at) },
    );
    // Counted once per reminder that really went (appointment_reminders_sent_total), as reminder_sent_at.
    if (result.affected === 1) this.metrics.reminderSent();
  }
}
