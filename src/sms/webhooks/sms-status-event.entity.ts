import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

/**
 * One status Twilio reported for a message, as received. Unique per SID and status (and per
 * `I-Twilio-Idempotency-Token`): a repeated callback finds its row and changes nothing. `applied`
 * says whether it moved the message forward (a late `sent` after `delivered` is kept, not applied).
 */
@Entity('sms_status_events')
@Index('UQ_sms_status_events_sid_status', ['providerSid', 'status'], { unique: true })
@Index('UQ_sms_status_events_token', ['idempotencyToken'], { unique: true })
@Index('IDX_sms_status_events_message', ['messageId', 'receivedAt'])
export class SmsStatusEvent {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  /** Our message; null when no message had this SID when the callback came. */
  @Column({ name: 'message_id', type: 'uuid', nullable: true })
  messageId: string | null;

  @Column({ name: 'provider_sid', type: 'varchar', length: 64 })
  providerSid: string;

  @Column({ type: 'varchar', length: 24 })
  status: string;

  @Column({ name: 'error_code', type: 'varchar', length: 32, nullable: true })
  errorCode: string | null;

  @Column({ name: 'idempotency_token', type: 'varchar', length: 128, nullable: true })
  idempotencyToken: string | null;

  @Column({ type: 'boolean', default: false })
  applied: boolean;

  @Column({ name: 'received_at', type: Date })
  receivedAt: Date;
}
