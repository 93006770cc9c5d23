import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

export type InboundKeyword = 'opt_out' | 'opt_in' | 'help';

/** An SMS a client sent us (Twilio's incoming-message webhook); unique per Twilio SID. */
@Entity('sms_inbound_messages')
@Index('UQ_sms_inbound_messages_sid', ['providerSid'], { unique: true })
@Index('IDX_sms_inbound_messages_from', ['from', 'receivedAt'])
@Index('IDX_sms_inbound_messages_received', ['receivedAt'])
export class InboundSms {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ name: 'provider_sid', type: 'varchar', length: 64 })
  providerSid: string;

  /** The client's number, E.164. */
  @Column({ type: 'varchar', length: 20 })
  from: string;

  /** Our number (or sender) it was sent to. */
  @Column({ type: 'varchar', length: 64, nullable: true })
  to: string | null;

  @Column({ type: 'text' })
  body: string;

  /** The keyword it was recognised as, if any. */
  @Column({ type: 'varchar', length: 16, nullable: true })
  keyword: InboundKeyword | null;

  /** Twilio's `OptOutType` (STOP, START, HELP) when Advanced Opt-Out is on. */
  @Column({ name: 'opt_out_type', type: 'varchar', length: 16, nullable: true })
  optOutType: string | null;

  @Column({ name: 'received_at', type: Date })
  receivedAt: Date;
}
