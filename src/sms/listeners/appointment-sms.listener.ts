import { Injectable, Logger } from '@nestjs/common';
import { OnEvent } from '@nestjs/event-emitter';
import { safeLogText } from '../../common/log-safe.js';
import {
  APPOINTMENT_EVENTS,
  type AppointmentCancelledEvent,
  type AppointmentEvent,
  type AppointmentRescheduledEvent,
} from '../../appointments/appointment.events.js';
import { SmsService } from '../sms.service.js';

/**
 * Texts clients when their appointment is confirmed, cancelled, moved or due. Sends are stored and
 * journaled by SmsService like any other (actor = the acting user, none for reminders). A failed
 * SMS is recorded on the message and never thrown back into the appointment change.
 */
@Injectable()
export class AppointmentSmsListener {
  private readonly logger = new Logger(AppointmentSmsListener.name);

  constructor(private readonly sms: SmsService) {}

  @OnEvent(APPOINTMENT_EVENTS.confirmed)
  onConfirmed(event: AppointmentEvent): Promise<void> {
    return this.notify('appointment_confirmed', event);
  }

  @OnEvent(APPOINTMENT_EVENTS.cancelled)
  onCancelled(event: AppointmentCancelledEvent): Promise<void> {
    return this.notify('appointment_cancelled', event, event.reason ? { reason: event.reason } : {});
  }

  @OnEvent(APPOINTMENT_EVENTS.rescheduled)
  onRescheduled(event: AppointmentRescheduledEvent): Promise<void> {
    return this.notify('appointment_rescheduled', event);
  }

  @OnEvent(APPOINTMENT_EVENTS.reminderDue)
  onReminderDue(event: AppointmentEvent): Promise<void> {
    return this.notify('appointment_reminder', event);
  }

  private async notify(type: string, event: AppointmentEvent, extra: Record<string, string> = {}): Promise<void> {
    const { appointment } = event;
    try {
      await this.sms.sendNotification(
        appointment.clientPhone,
        type,
        {
          name: appointment.clientName,
          startsAt: appointment.startsAt.toISOString(),
          ...(appointment.location ? { location: appointment.location } : {}),
          ...extra,
        },
        { actor: event.actor, locale: appointment.clientLocale, related: { type: 'appointment', id: appointment.id } },
      );
    } catch (error) {
      // Stored as failed by SmsService; the appointment change stands.
      this.logger.warn(
        `${type} SMS for appointment ${appointment.id} failed: ${safeLogText(error instanceof Error ? error.message : error)}`,
      );
    }
  }
}
