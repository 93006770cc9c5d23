import { Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

export type SmsBatchStatus = 'running' | 'completed' | 'cancelled';

/** One bulk send: its counts at acceptance, its times, and how many of its messages have not settled yet. */
@Entity('sms_batches')
@Index('IDX_sms_batches_created', ['createdAt'])
export class SmsBatch {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'varchar', length: 16 })
  status: SmsBatchStatus;

  /** The message as written, before `{{name}}` is filled in. */
  @Column({ type: 'text' })
  message: string;

  /** Recipients in the request. */
  @Column({ type: 'integer' })
  total: number;

  /** Messages written (total minus invalid and duplicates). */
  @Column({ type: 'integer' })
  queued: number;

  @Column({ type: 'integer' })
  invalid: number;

  @Column({ type: 'integer' })
  duplicates: number;

  /** Messages not yet sent, failed or cancelled; the one that brings it to 0 ends the batch. */
  @Column({ type: 'integer' })
  remaining: number;

  @Column({ name: 'actor_id', type: 'varchar', length: 36, nullable: true })
  actorId: string | null;

  @Column({ name: 'actor_email', type: 'varchar', length: 254, nullable: true })
  actorEmail: string | null;

  @Column({ name: 'actor_role', type: 'varchar', length: 16, nullable: true })
  actorRole: string | null;

  /** The IP of the request that asked for it (journaled with its later entries); purged by RETENTION_DAYS. */
  @Column({ name: 'actor_ip', type: 'varchar', length: 45, nullable: true })
  actorIp: string | null;

  @Column({ name: 'not_before', type: Date, nullable: true })
  notBefore: Date | null;

  @CreateDateColumn({ name: 'created_at' })
  createdAt: Date;

  @Column({ name: 'started_at', type: Date, nullable: true })
  startedAt: Date | null;

  @Column({ name: 'finished_at', type: Date, nullable: true })
  finishedAt: Date | null;

  @Column({ name: 'cancelled_at', type: Date, nullable: true })
  cancelledAt: Date | null;
}
