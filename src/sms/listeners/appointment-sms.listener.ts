import { Injectable, Logger } from '@nestjs/common';
import { OnEvent } from '@nestjs/event-emitter';
import { safeLogText } from '../../common/log-safe.js';
import {
  APPOINTMENT_EVENTS,
  type AppointmentCancelledEvent,
  type AppointmentEvent,
  type AppointmentRescheduledEvent,
} from '../../appointments/appointment.events.js';
import { OUTBOX_LISTENER, type DomainEventEnvelope } from '../../events/domain-event.types.js';
import { SmsInputError, SmsSendError } from '../sms-exceptions.js';
import { SmsService } from '../sms.service.js';

/**
 * Texts clients when their appointment is confirmed, cancelled, moved or due. The events come from
 * the outbox, at least once: each SMS carries the key `event:<event id>`, so a replayed event finds its
 * message instead of making a second one. Sends are stored and journaled by SmsService like any other
 * (actor = the acting user, none for reminders). A failed SMS is recorded on the message and never
 * undoes the appointment change; only an unexpected error (the database…) is thrown back to the
 * relay, which delivers the event again later.
 */
@Injectable()
export class AppointmentSmsListener {
  private readonly logger = new Logger(AppointmentSmsListener.name);

  constructor(private readonly sms: SmsService) {}

  @OnEvent(APPOINTMENT_EVENTS.confirmed, OUTBOX_LISTENER)
  onConfirmed(event: DomainEventEnvelope<AppointmentEvent>): Promise<void> {
    return this.notify('appointment_confirmed', event);
  }

  @OnEvent(APPOINTMENT_EVENTS.cancelled, OUTBOX_LISTENER)
  onCancelled(event: DomainEventEnvelope<AppointmentCancelledEvent>): Promise<void> {
    const { reason } = event.payload;
    return this.notify('appointment_cancelled', event, reason ? { reason } : {});
  }

  @OnEvent(APPOINTMENT_EVENTS.rescheduled, OUTBOX_LISTENER)
  onRescheduled(event: DomainEventEnvelope<AppointmentRescheduledEvent>): Promise<void> {
    return this.notify('appointment_rescheduled', event);
  }

  @OnEvent(APPOINTMENT_EVENTS.reminderDue, OUTBOX_LISTENER)
  onReminderDue(event: DomainEventEnvelope<AppointmentEvent>): Promise<void> {
    return this.notify('appointment_reminder', event);
  }

  private async notify(type: string, event: DomainEventEnvelope<AppointmentEvent>, extra: Record<string, string> = {}): Promise<void> {
    const { appointment, actor } = event.payload;
    try {
      await this.sms.sendNotification(
        appointment.clientPhone,
        type,
        {
          name: appointment.clientName,
          startsAt: appointment.startsAt,
          ...(appointment.location ? { location: appointment.location } : {}),
          ...extra,
        },
        {
          actor,
          locale: appointment.clientLocale,
          related: { type: 'appointment', id: appointment.id },
          dedupeKey: `event:${event.id}`,
        },
      );
    } catch (error) {
      // Stored as failed by SmsService, and a replay would find the same outcome: the change stands.
      if (!(error instanceof SmsSendError) && !(error instanceof SmsInputError)) throw error;
      this.logger.warn(`${type} SMS for appointment ${appointment.id} failed: ${safeLogText(error.message)}`);
    }
  }
}
