import { PURGED, SMS_QUEUED, SMS_SENDING } from '../sms/sms-message.entity.js';

/** Builds a statement's parameters in order: `bind(value)` returns the placeholder for that value. */
export type Bind = (value: unknown) => string;

interface StepBase {
  /** The key of this step's count in the `retention_purge` journal entry and in the run's report. */
  name: string;
  table: string;
  /** The row's age: rows whose `timeColumn` is older than RETENTION_DAYS are purged. Index it. */
  timeColumn: string;
  /** More conditions on the rows to purge, in SQL (quoted column names; values through `bind`). */
  where?: (bind: Bind, cutoff: Date) => string;
}

/** Deletes old rows. */
export interface DeleteStep extends StepBase {
  kind: 'delete';
}

/**
 * Keeps old rows but overwrites their personal columns (`set`: column → value, null allowed where the column is
 * nullable) and stamps `marker`, so a row is purged once and the next run skips it (index `timeColumn` where
 * `marker` is null). Without a marker (small tables), a row counts as purged once its first `set` column holds
 * its value.
 */
export interface ScrubStep extends StepBase {
  kind: 'scrub';
  set: Record<string, string | null>;
  marker?: string;
}

export type PurgeStep = DeleteStep | ScrubStep;

/**
 * Everything data retention purges, in order. A new table holding personal data gets one entry here.
 */
export const RETENTION_STEPS: readonly PurgeStep[] = [
  {
    // Number, text, the provider's error text (Twilio's messages quote the number) and the state of the record the
    // message was written for (it holds the client's number); kind, category, status,
    // segments, encoding, error code, batch, related appointment and times stay for statistics.
    name: 'smsMessages',
    kind: 'scrub',
    table: 'sms_messages',
    timeColumn: 'created_at',
    marker: 'purged_at',
    set: { to: PURGED, body: PURGED, error_message: null, actor_ip: null, related_version: null },
    // A message still ours to send (the outbox: queued or sending, no provider SID yet: sent later, or between
    // retries) keeps its data until it has gone; so does one whose planned time is not yet past the cutoff.
    where: (bind, cutoff) =>
      `NOT ("provider_sid" IS NULL AND "status" IN (${bind(SMS_QUEUED)}, ${bind(SMS_SENDING)})) AND ("not_before" IS NULL OR "not_before" < ${bind(cutoff)})`,
  },
  {
    // A bulk's text as written (before {{name}} is filled in; each message has its own copy): once the batch is
    // over. Its counts, state and times stay.
    name: 'smsBatches',
    kind: 'scrub',
    table: 'sms_batches',
    timeColumn: 'created_at',
    set: { message: PURGED, actor_ip: null },
    where: () => `"status" <> 'running'`,
  },
  {
    // SMS clients sent us (replies, STOP…): number and text. The opt-out list itself is kept (consent records).
    name: 'inboundMessages',
    kind: 'delete',
    table: 'sms_inbound_messages',
    timeColumn: 'received_at',
  },
  {
    // Appointment events once relayed (their payloads hold the client's name and number, the actor's email and IP):
    // the relay deletes them a week after (RELAY_KEEP_PROCESSED_MS); a shorter RETENTION_DAYS deletes them sooner.
    // One not relayed yet is never touched (processed_at is null).
    name: 'domainEvents',
    kind: 'delete',
    table: 'domain_events',
    timeColumn: 'processed_at',
  },
  {
    // The journal: its metadata holds numbers and messages, its rows staff emails and IPs.
    name: 'auditLogs',
    kind: 'delete',
    table: 'audit_logs',
    timeColumn: 'created_at',
  },
];
