/** Events the SMS side raises for other modules (they import these names and types, never SmsModule). */
export const SMS_EVENTS = {
  /** A stored message changed state (its provider's answer, a failure…), emitted once the change is stored. */
  messageUpdated: 'sms.message.updated',
} as const;

export interface SmsMessageUpdatedEvent {
  messageId: string;
  status: string;
  relatedType: string | null;
  relatedId: string | null;
  templateType: string | null;
  /** When the state changed (ISO 8601, or a Date when emitted in memory). */
  at: string | Date;
}

/**
 * Statuses meaning the provider took the message (Twilio: queued on its side, accepted by a Messaging
 * Service, sent, delivered, read). Our own `pending` and `failed` are not among them.
 */
export const SMS_WENT_STATUSES: ReadonlySet<string> = new Set(['accepted', 'queued', 'sent', 'delivered', 'read']);
