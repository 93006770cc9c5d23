import type { InboundKeyword } from './inbound-sms.entity.js';

/** Emitted (through @nestjs/event-emitter) once per inbound SMS, after it is stored. */
export const SMS_RECEIVED = 'sms.received';

export interface SmsReceivedEvent {
  /** Our id of the stored inbound message. */
  id: string;
  providerSid: string;
  /** The client's number, E.164; or a short code or an alphanumeric sender ID, as written. */
  from: string;
  to: string | null;
  body: string;
  /**
   * `opt_out`, `opt_in` or `help` when it was one of those keywords: already acted on when `from` is a
   * phone number (a short code or an alphanumeric sender is neither opted out nor answered).
   */
  keyword: InboundKeyword | null;
  receivedAt: Date;
}
