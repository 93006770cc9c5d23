/** A message sent about something of another module (an appointment, a dossier…), and how it went. */
export interface RelatedMessage {
  id: string;
  /** The notification type (`appointment_confirmed`…), null for a free-text SMS. */
  type: string | null;
  status: string;
  sid: string | null;
  errorCode: string | null;
  errorMessage: string | null;
  createdAt: Date;
}

/** How the messages about one thing went: delivered, not, or still on their way. */
export interface DeliveryCounts {
  total: number;
  /** delivered (or read) */
  delivered: number;
  undelivered: number;
  /** failed at Twilio or on our side (refused, retries exhausted) */
  failed: number;
  /** not sent on purpose: the number opted out, or the record moved on (OUTDATED) */
  skipped: number;
  cancelled: number;
  /** still on their way: waiting to leave, sending, or sent without a final answer yet */
  waiting: number;
}

/**
 * The port through which a module shows the SMS sent about its things without importing the SMS
 * module or reading its tables: the SMS module provides it globally (SmsPortsModule, backed by
 * SmsMessagesService, the one reader of sms_messages). Inject it by this class.
 */
export abstract class RelatedMessages {
  /** The messages about `type` + `id` (e.g. `appointment`, its id), oldest first. */
  abstract findRelated(type: string, id: string): Promise<RelatedMessage[]>;
  /** Their delivery counts, from their statuses (the SMS module knows what each status means). */
  abstract deliveryCounts(messages: readonly RelatedMessage[]): DeliveryCounts;
}
