import { ConflictException, Injectable, Logger } from '@nestjs/common';
import { OnEvent } from '@nestjs/event-emitter';
import { safeLogText } from '../../common/log-safe.js';
import {
  APPOINTMENT_EVENTS,
  type AppointmentCancelledEvent,
  type AppointmentEvent,
  type AppointmentRescheduledEvent,
  appointmentSmsVersion,
  REMINDER_TEMPLATE,
} from '../../appointments/appointment.events.js';
import { RelatedRecords } from '../../common/related-records.js';
import { OUTBOX_LISTENER, type DomainEventEnvelope } from '../../events/domain-event.types.js';
import { SmsOptedOutError } from '../opt-outs/opted-out.error.js';
import { SmsInputError, SmsSendError } from '../sms-exceptions.js';
import { SMS_CANCELLED, SMS_QUEUED, SMS_SENDING, type SmsMessage } from '../sms-message.entity.js';
import { SmsMessagesService } from '../sms-messages.service.js';
import { SmsService } from '../sms.service.js';

/**
 * Texts clients when their appointment is confirmed, cancelled (before its start), moved or due. The events come from
 * the outbox, at least once: each SMS carries the key `event:<event id>`, so a replayed event finds its
 * message instead of making a second one. Sends are stored and journaled by SmsService like any other
 * (actor = the acting user, none for reminders).
 *
 * The listener only writes the message (`waitMs: 0`) and returns: the relay is never held behind the
 * provider (a slow or failing Twilio would stall every other event). The dispatcher sends it, retries
 * it, and stores its outcome on the message, shown with the appointment (`messages`); a reminder's
 * outcome comes back through `sms.message.updated`. A number that opted out is stored as skipped at
 * once. A failed SMS never undoes the appointment change; only an unexpected error (the database…) is
 * thrown back to the relay, which delivers the event again later.
 */
@Injectable()
export class AppointmentSmsListener {
  private readonly logger = new Logger(AppointmentSmsListener.name);

  constructor(
    private readonly sms: SmsService,
    private readonly messages: SmsMessagesService,
    private readonly records: RelatedRecords,
  ) {}

  @OnEvent(APPOINTMENT_EVENTS.confirmed, OUTBOX_LISTENER)
  onConfirmed(event: DomainEventEnvelope<AppointmentEvent>): Promise<void> {
    return this.notify('appointment_confirmed', 'confirmed', event);
  }

  @OnEvent(APPOINTMENT_EVENTS.cancelled, OUTBOX_LISTENER)
  async onCancelled(event: DomainEventEnvelope<AppointmentCancelledEvent>): Promise<void> {
    const { reason, cancelledAt, appointment } = event.payload;
    // What has not left yet (a confirmation or reminder waiting for a retry) would reach the client after
    // "cancelled": it is cancelled first. (Had it been delivered later, the dispatcher would drop it: OUTDATED.)
    await this.cancelOutdated(event);
    // Cancelled once its time had come (a no-show tidied up): "your appointment is cancelled" would come too late.
    if (cancelledAt && Date.parse(cancelledAt) >= Date.parse(appointment.startsAt)) {
      this.logger.log(`appointment_cancelled SMS for appointment ${appointment.id} not sent: cancelled after its start`);
      return;
    }
    return this.notify('appointment_cancelled', 'cancelled', event, reason ? { reason } : {});
  }

  @OnEvent(APPOINTMENT_EVENTS.rescheduled, OUTBOX_LISTENER)
  async onRescheduled(event: DomainEventEnvelope<AppointmentRescheduledEvent>): Promise<void> {
    // What has not left yet was written for the old time (a confirmation or reminder waiting for a retry, an
    // earlier move's SMS): sent after "moved to …", it would give the client the old time last. It is cancelled
    // first; the new time gets its own reminder.
    const related = await this.cancelOutdated(event);
    // "Moved to …" assumes the client was told the appointment: one whose confirmation never left (it waited for a
    // retry and was cancelled just above as outdated, or a new number that had nothing yet) is sent the confirmation
    // at the new time instead.
    const type = this.toldAbout(event, related) ? 'appointment_rescheduled' : 'appointment_confirmed';
    return this.notify(type, 'confirmed', event);
  }

  /**
   * Whether a confirmation or a move of this appointment has left for its current number, or is leaving (in flight),
   * other than this event's own SMS (a redelivered event decides as the first delivery did).
   */
  private toldAbout(event: DomainEventEnvelope<AppointmentEvent>, related: readonly SmsMessage[]): boolean {
    const { appointment } = event.payload;
    return related.some(
      (m) =>
        m.to === appointment.clientPhone &&
        (m.templateType === 'appointment_confirmed' || m.templateType === 'appointment_rescheduled') &&
        m.dedupeKey !== `event:${event.id}` &&
        (m.providerSid !== null || m.status === SMS_SENDING),
    );
  }

  @OnEvent(APPOINTMENT_EVENTS.reminderDue, OUTBOX_LISTENER)
  onReminderDue(event: DomainEventEnvelope<AppointmentEvent>): Promise<void> {
    return this.notify(REMINDER_TEMPLATE, 'confirmed', event);
  }

  /**
   * Cancels the appointment's SMS that have not left (queued, no SID) and were written for a state it has left,
   * as the appointments side tells now (RelatedRecords), whatever order the events came in. Messages written
   * before versions existed: all but the cancellation SMS on a cancellation, all but this event's own on a move.
   * One being sent finishes; should that attempt fail, the dispatcher drops it before any retry (OUTDATED).
   * Answers the appointment's SMS as read before cancelling (those it cancelled had not left either way).
   */
  private async cancelOutdated(event: DomainEventEnvelope<AppointmentEvent>): Promise<SmsMessage[]> {
    const { appointment, actor } = event.payload;
    const legacy = (m: SmsMessage) =>
      event.type === APPOINTMENT_EVENTS.cancelled ? m.templateType !== 'appointment_cancelled' : m.dedupeKey !== `event:${event.id}`;
    const related = await this.messages.findRelated('appointment', appointment.id);
    const waiting = related.filter((m) => m.status === SMS_QUEUED && !m.providerSid);
    let cancelled = 0;
    for (const message of waiting) {
      const outdated = message.relatedVersion
        ? (await this.records.whyOutdated('appointment', appointment.id, message.relatedVersion)) !== null
        : legacy(message);
      if (!outdated) continue;
      try {
        // Its outcome unknown, it stays queued until looked up (SmsService.cancel), then ends sent or cancelled.
        if ((await this.sms.cancel(message.id, actor)).status === SMS_CANCELLED) cancelled++;
      } catch (error) {
        // Claimed meanwhile: its attempt goes on, and the dispatcher drops it if it is outdated.
        if (!(error instanceof ConflictException)) throw error;
      }
    }
    if (cancelled) this.logger.log(`appointment ${appointment.id} ${event.type}: ${cancelled} unsent SMS about it cancelled`);
    return related;
  }

  /** `status`: the appointment's status the SMS is written for (its version, see appointmentSmsVersion). */
  private async notify(
    type: string,
    status: 'confirmed' | 'cancelled',
    event: DomainEventEnvelope<AppointmentEvent>,
    extra: Record<string, string> = {},
  ): Promise<void> {
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
          related: { type: 'appointment', id: appointment.id, version: appointmentSmsVersion(status, appointment) },
          dedupeKey: `event:${event.id}`,
          // Written and handed to the dispatcher; its outcome is stored on the message, not awaited here.
          waitMs: 0,
        },
      );
    } catch (error) {
      // The client opted out: the message is stored as skipped (OPTED_OUT), visible on the appointment.
      if (error instanceof SmsOptedOutError) {
        this.logger.log(`${type} SMS for appointment ${appointment.id} skipped: the number opted out`);
        return;
      }
      // A replay finding its message already failed: stored as failed, the change stands. Data the template refuses
      // (SmsInputError) is refused before anything is stored, so the appointment routes validate it first (a client
      // name of nothing visible is a 400: IsText's `visible`); should any still come, it is logged and the change stands.
      if (!(error instanceof SmsSendError) && !(error instanceof SmsInputError)) throw error;
      this.logger.warn(`${type} SMS for appointment ${appointment.id} failed: ${safeLogText(error.message)}`);
    }
  }
}
