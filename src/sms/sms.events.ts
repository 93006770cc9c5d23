/** Events the SMS side raises for other modules (they import these names and types, never SmsModule). */
export const SMS_EVENTS = {
  /**
   * A stored message reached a final state (the provider took it, failed, skipped, cancelled). For a
   * message tied to a record (`relatedType`, see `reportedDurably`) it is written to the domain-events
   * outbox in the transaction that stores that state, and the relay delivers it at least once, in an
   * envelope (`{id, payload}`): listeners must be idempotent. Other messages raise it in memory once
   * the state is committed (no crash guarantee).
   */
  messageUpdated: 'sms.message.updated',
} as const;

/** The error code of an appointment's reminder that quiet hours stopped (SendHours), in `sms.message.updated`. */
export const QUIET_HOURS = 'QUIET_HOURS';
/** The error code of a message dropped because the record it is about moved on (RelatedRecords). */
export const OUTDATED = 'OUTDATED';
/** Why a send answered 202 waits while the provider looks down (ProviderCircuit open): its lastError, never stored. */
export const PROVIDER_PAUSED = 'PROVIDER_PAUSED';

export interface SmsMessageUpdatedEvent {
  messageId: string;
  status: string;
  relatedType: string | null;
  relatedId: string | null;
  templateType: string | null;
  /** When the state changed (ISO 8601 through the outbox, a Date when emitted in memory). */
  at: string | Date;
  /** Why it ended `failed` or `skipped` (`QUIET_HOURS`, `OUTDATED`, `OPTED_OUT`, Twilio's code…); absent otherwise. */
  errorCode?: string | null;
  /** The state of its record it was written for (`related.version`), when it has one. */
  relatedVersion?: string;
}

/**
 * Which final states go through the outbox: only those of messages tied to a record (an appointment's
 * reminder or confirmation, a dossier's notice…), the ones other modules listen to. A bulk batch's
 * thousands of plain messages would cost an outbox row and a relay delivery each for no listener.
 */
export function reportedDurably(message: { relatedType: string | null }): boolean {
  return !!message.relatedType;
}

export function messageUpdatedEvent(
  message: {
    id: string;
    relatedType: string | null;
    relatedId: string | null;
    templateType: string | null;
    relatedVersion?: string | null;
  },
  status: string,
  at: Date,
  errorCode?: string | null,
): SmsMessageUpdatedEvent {
  return {
    messageId: message.id,
    status,
    relatedType: message.relatedType,
    relatedId: message.relatedId,
    templateType: message.templateType,
    at: at.toISOString(),
    ...(errorCode ? { errorCode } : {}),
    ...(message.relatedVersion ? { relatedVersion: message.relatedVersion } : {}),
  };
}

/**
 * Statuses meaning the provider took the message (Twilio: queued on its side, accepted by a Messaging
 * Service, sent, delivered, read). Our own `pending` and `failed` are not among them.
 */
export const SMS_WENT_STATUSES: ReadonlySet<string> = new Set(['accepted', 'queued', 'sent', 'delivered', 'read']);
