import type { InboundKeyword } from './inbound-sms.entity.js';

/** Emitted (through @nestjs/event-emitter) once per inbound SMS, after it is stored. */
export const SMS_RECEIVED = 'sms.received';

export interface SmsReceivedEvent {
  /** Our id of the stored inbound message. */
  id: string;
  providerSid: string;
  /** The client's number (E.164 when it could be read as one). */
  from: string;
  to: string | null;
  body: string;
  /** `opt_out`, `opt_in` or `help` when it was one of those keywords (already acted on). */
  keyword: InboundKeyword | null;
  receivedAt: Date;
}
