import { Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';

export enum SmsKind {
  Single = 'single',
  Notification = 'notification',
  Bulk = 'bulk',
}

/**
 * Our side of a message's life (the outbox state machine, see src/sms/dispatch/):
 * - `queued` without a provider SID: written, waiting for `notBefore` and a worker;
 * - `sending`: claimed by a worker until `leaseUntil`;
 * - then the provider's own status with its SID (Twilio: `queued`, `accepted`, `sent`…; dry-run: `dry-run`),
 *   or `failed` (for good, with the last error and `attempts`), or `cancelled` (never left).
 * Twilio also calls its first state `queued`: a row is ours to send only while it has no provider SID.
 */
export const SMS_QUEUED = 'queued';
export const SMS_SENDING = 'sending';
export const SMS_FAILED = 'failed';
export const SMS_CANCELLED = 'cancelled';
/** Not sent on purpose: the number opted out (error code OPTED_OUT). */
export const SMS_SKIPPED = 'skipped';

/** What a purged message's number and text become (RETENTION_DAYS; the columns are NOT NULL; the row stays for statistics). */
export const PURGED = '[purged]';

@Entity('sms_messages')
// Partial where most rows leave the column empty (1764480000000-partial-sms-indexes): fewer index writes per message.
@Index('IDX_sms_messages_to_created', ['to', 'createdAt'])
@Index('IDX_sms_messages_status_created', ['status', 'createdAt'])
@Index('IDX_sms_messages_type_created', ['templateType', 'createdAt'], { where: '"template_type" IS NOT NULL' })
@Index('IDX_sms_messages_batch_status', ['batchId', 'status'], { where: '"batch_id" IS NOT NULL' })
@Index('IDX_sms_messages_outbox', ['status', 'notBefore'], { where: '"provider_sid" IS NULL' })
// Waiting messages outside a batch, claimed first (1764510000000-sms-outbox-lanes).
@Index('IDX_sms_messages_outbox_single', ['notBefore'], { where: `"status" = 'queued' AND "provider_sid" IS NULL AND "batch_id" IS NULL` })
@Index('IDX_sms_messages_related', ['relatedType', 'relatedId'], { where: '"related_type" IS NOT NULL' })
@Index('IDX_sms_messages_unpurged_created', ['createdAt'], { where: '"purged_at" IS NULL' })
@Index('IDX_sms_messages_provider_sid', ['providerSid'], { where: '"provider_sid" IS NOT NULL' })
@Index('UQ_sms_messages_dedupe_key', ['dedupeKey'], { unique: true, where: '"dedupe_key" IS NOT NULL' })
// Also serves created_at ranges and order on their own (its first column).
@Index('IDX_sms_messages_stats', ['createdAt', 'kind', 'category', 'status', 'segments', 'errorCode'])
export class SmsMessage {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'varchar', length: 20 })
  to: string;

  /** The sender used: a number, an alphanumeric ID, or the Messaging Service SID. */
  @Column({ type: 'varchar', length: 64, nullable: true })
  from: string | null;

  @Column({ type: 'text' })
  body: string;

  @Column({ type: 'varchar', length: 16 })
  kind: SmsKind;

  @Column({ name: 'template_type', type: 'varchar', length: 40, nullable: true })
  templateType: string | null;

  @Column({ type: 'varchar', length: 8, nullable: true })
  locale: string | null;

  @Column({ name: 'batch_id', type: 'varchar', length: 36, nullable: true })
  batchId: string | null;

  /** What the message is about, for other modules (e.g. `appointment` + its id). */
  @Column({ name: 'related_type', type: 'varchar', length: 32, nullable: true })
  relatedType: string | null;

  @Column({ name: 'related_id', type: 'varchar', length: 64, nullable: true })
  relatedId: string | null;

  /**
   * The state of that record the message was written for (see RelatedRecords): checked before each attempt, the
   * message is dropped (OUTDATED) once the record has moved on. Null: no check.
   */
  @Column({ name: 'related_version', type: 'varchar', length: 200, nullable: true })
  relatedVersion: string | null;

  @Column({ type: 'varchar', length: 16 })
  provider: string;

  @Column({ type: 'varchar', length: 24 })
  status: string;

  @Column({ name: 'provider_sid', type: 'varchar', length: 64, nullable: true })
  providerSid: string | null;

  @Column({ name: 'error_code', type: 'varchar', length: 32, nullable: true })
  errorCode: string | null;

  @Column({ name: 'error_message', type: 'varchar', length: 500, nullable: true })
  errorMessage: string | null;

  @Column({ type: 'integer' })
  segments: number;

  @Column({ type: 'varchar', length: 8 })
  encoding: string;

  @Column({ name: 'actor_id', type: 'varchar', length: 36, nullable: true })
  actorId: string | null;

  @Column({ name: 'actor_email', type: 'varchar', length: 254, nullable: true })
  actorEmail: string | null;

  @Column({ name: 'actor_role', type: 'varchar', length: 16, nullable: true })
  actorRole: string | null;

  /** The IP of the request that asked for it (journaled with its later entries); purged by RETENTION_DAYS. */
  @Column({ name: 'actor_ip', type: 'varchar', length: 45, nullable: true })
  actorIp: string | null;

  /** When the latest provider call started: a reconciliation looks Twilio up from the message's creation on. */
  @Column({ name: 'last_attempt_at', type: Date, nullable: true })
  lastAttemptAt: Date | null;

  /** When the first counted provider call started: outage retries past SMS_MAX_ATTEMPTS are counted from it. */
  @Column({ name: 'first_attempt_at', type: Date, nullable: true })
  firstAttemptAt: Date | null;

  /**
   * When it was cancelled while its last attempt's outcome was unknown (UNKNOWN_OUTCOME_CODES): never sent again,
   * looked up once more, then stored as sent (Twilio had it) or cancelled. Null otherwise.
   */
  @Column({ name: 'cancel_requested_at', type: Date, nullable: true })
  cancelRequestedAt: Date | null;

  /** When the provider took the message (its SID stored). */
  @Column({ name: 'sent_at', type: Date, nullable: true })
  sentAt: Date | null;

  /** Not sent before this instant: its creation (as soon as possible), sendAt, or the next retry. */
  @Column({ name: 'not_before', type: Date, nullable: true })
  notBefore: Date | null;

  /** While `sending`: the claiming worker owns the row until then; past it another worker takes it up. */
  @Column({ name: 'lease_until', type: Date, nullable: true })
  leaseUntil: Date | null;

  /** Provider calls made so far. */
  @Column({ type: 'integer', default: 0 })
  attempts: number;

  /** Unique key of the request or event that asked for this message: a replay finds it instead of making another. */
  @Column({ name: 'dedupe_key', type: 'varchar', length: 160, nullable: true })
  dedupeKey: string | null;

  /** Set when data retention (RETENTION_DAYS) removed the number, text and error text; null until then. */
  @Column({ name: 'purged_at', type: Date, nullable: true })
  purgedAt: Date | null;
  /** `transactional` (appointments, dossiers) or `marketing`; what the statistics filter on. */
  @Column({ type: 'varchar', length: 16, default: 'transactional' })
  category: string;

  @CreateDateColumn({ name: 'created_at' })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at' })
  updatedAt: Date;
}
