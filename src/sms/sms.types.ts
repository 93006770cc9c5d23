import type { Actor } from '../common/actor.js';

/** Who sends, in which language, and about what; every send is journaled with it. */
export interface SmsContext {
  /** The acting user; null when the system itself sends (scheduler). */
  actor: Actor | null;
  /** Template language for notifications ('fr' default, 'en'). */
  locale?: string;
  /** What the message is about, stored with it (e.g. { type: 'appointment', id }). */
  related?: { type: string; id: string };
  /** Unique key of the request or event asking for this SMS: a second call with it makes no second message. */
  dedupeKey?: string;
}

export interface SmsSendResult {
  /** Our id for the stored message. */
  id: string;
  /** The provider's id (Twilio SID, or a SMDRYRUN… fake in dry-run). */
  sid: string;
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
}

export interface BulkRecipient {
  phone: string;
  name?: string;
}

export type BulkRecipientStatus = 'sent' | 'failed' | 'invalid' | 'duplicate';

export interface BulkRecipientResult {
  phone: string;
  name?: string;
  to: string | null;
  status: BulkRecipientStatus;
  id?: string;
  sid?: string;
  providerStatus?: string;
  segments?: number;
  error?: { code: string; message: string };
}

export interface BulkResult {
  batchId: string;
  provider: string;
  total: number;
  sent: number;
  failed: number;
  invalid: number;
  duplicates: number;
  segments: number;
  results: BulkRecipientResult[];
}
