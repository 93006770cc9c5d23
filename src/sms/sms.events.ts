/** Emitted (through @nestjs/event-emitter) once a message's new state is committed. */
export const SMS_MESSAGE_UPDATED = 'sms.message.updated';

/**
 * A message reached a state that will not change by itself: taken by the provider (its status, e.g.
 * `queued` / `accepted` with a SID), `failed` for good, or `cancelled`.
 */
export interface SmsMessageUpdatedEvent {
  messageId: string;
  status: string;
  relatedType: string | null;
  relatedId: string | null;
  templateType: string | null;
  at: Date;
}
