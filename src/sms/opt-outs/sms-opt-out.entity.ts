import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

/** How a number came to be opted out. */
export enum OptOutSource {
  /** The client answered an opt-out keyword (STOP, ARRET…). */
  Keyword = 'keyword',
  /** Staff recorded it (consent withdrawn another way). */
  Manual = 'manual',
  /** Twilio refused a send with 21610 (the number opted out at Twilio). */
  Twilio21610 = 'twilio_21610',
}

/** A number that must not be texted; removed when it opts back in. */
@Entity('sms_opt_outs')
@Index('UQ_sms_opt_outs_phone', ['phone'], { unique: true })
@Index('IDX_sms_opt_outs_opted_out_at', ['optedOutAt'])
export class SmsOptOut {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  /** E.164. */
  @Column({ type: 'varchar', length: 20 })
  phone: string;

  @Column({ name: 'opted_out_at', type: Date })
  optedOutAt: Date;

  @Column({ type: 'varchar', length: 24 })
  source: OptOutSource;

  /** Free text for a manual entry; the keyword for an SMS; Twilio's message for a 21610. */
  @Column({ type: 'varchar', length: 500, nullable: true })
  reason: string | null;

  @Column({ name: 'actor_id', type: 'varchar', length: 36, nullable: true })
  actorId: string | null;

  @Column({ name: 'actor_email', type: 'varchar', length: 254, nullable: true })
  actorEmail: string | null;
}
