import type { Actor } from '../common/actor.js';

/** Who sends, in which language, and about what; every send is journaled with it. */
export interface SmsContext {
  /** The acting user; null when the system itself sends (scheduler, event relay). */
  actor: Actor | null;
  /** Template language for notifications ('fr' default, 'en'). */
  locale?: string;
  /**
   * What the message is about, stored with it (e.g. { type: 'appointment', id }); `version`: the state of it the
   * message was written for, checked before each attempt (see RelatedRecords).
   */
  related?: { type: string; id: string; version?: string };
  /**
   * Unique key of the request or event asking for this SMS: a second call with it makes no second message (a bulk:
   * no second batch; its id is derived from the key). The routes pass their Idempotency-Key's claim.
   */
  dedupeKey?: string;
  /**
   * Send later: ISO 8601 with an offset (or a Date), in the future, at most 35 days ahead. The call
   * answers at once (`state: 'queued'`); the message waits until then and can be cancelled.
   */
  sendAt?: string | Date;
  /**
   * How long to wait for the provider's answer before resolving `state: 'queued'` (default
   * SMS_SEND_WAIT_MS). 0: do not wait (an event relay that only needs the message written).
   */
  waitMs?: number;
  /**
   * Bulk: `transactional` (default) or `marketing`: a marketing message carries SMS_MARKETING_STOP_MENTION and
   * leaves only within SMS_MARKETING_HOURS, never on a public holiday.
   */
  category?: 'transactional' | 'marketing';
}

/**
 * What a single or notification send answers:
 * - `state: 'sent'`: the provider took it within SMS_SEND_WAIT_MS: its SID and status (`queued`, `accepted`…);
 * - `state: 'queued'`: accepted by us and still waiting (send later, retries, a slow provider): poll
 *   `GET /api/sms/messages/:id`; `sid` is null, `lastError` says why it is not gone yet, if it tried;
 * - `state: 'cancelled'`: cancelled before it left (POST /api/sms/messages/:id/cancel while the request waited
 *   for a retry, or a call with the `dedupeKey` of a send since cancelled): nothing was sent, nothing will be.
 */
export interface SmsSendResult {
  state: 'sent' | 'queued' | 'cancelled';
  /** Our id for the stored message. */
  id: string;
  /** The provider's id (Twilio SID, or a SMDRYRUN… fake in dry-run); null while queued. */
  sid: string | null;
  /** The provider's status once sent; ours (`queued`, `sending`) before. */
  status: string;
  to: string;
  from: string | null;
  segments: number;
  encoding: 'GSM-7' | 'UCS-2';
  /** Characters that forced UCS-2 (empty for GSM-7), and what they cost. */
  ucs2Characters: string[];
  encodingNote?: string;
  provider: string;
  /** The text sent (a notification's rendered template), so a caller sees exactly what went out. */
  body: string;
  /** When it leaves (send later, or the next retry); queued only. */
  notBefore?: Date | null;
  attempts?: number;
  lastError?: { code: string; message: string; explanation?: string | null } | null;
}

export interface BulkRecipient {
  phone: string;
  name?: string;
}

/** A bulk send accepted: every message is written `queued`; the batch goes out in the background. */
export interface BulkAccepted {
  batchId: string;
  status: 'running' | 'completed';
  provider: string;
  total: number;
  /** Messages written (one per distinct valid number). */
  queued: number;
  /** Segments of all the messages written, each as personalised. */
  segments: number;
  /** The text as written (before `{{name}}` is filled in): its encoding, what forces UCS-2 and what it costs. */
  encoding: 'GSM-7' | 'UCS-2';
  ucs2Characters: string[];
  encodingNote?: string;
  /** Messages written in UCS-2, by their text or by their recipient's name. */
  ucs2Messages: number;
  notBefore: Date | null;
  category: 'transactional' | 'marketing';
  /** Marketing: whether the opt-out mention was appended (it is then in every message and their segments). */
  stopMentionAppended: boolean;
  invalid: { index: number; phone: string; name?: string; code: string; message: string }[];
  duplicates: { index: number; phone: string; to: string }[];
}
