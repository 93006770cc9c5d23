import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

/**
 * One row of the transactional outbox: written in the same transaction as the change that raised
 * it, then delivered to its listeners by DomainEventRelay (at least once) and marked processed.
 */
@Entity('domain_events')
@Index('IDX_domain_events_pending', ['processedAt', 'nextAttemptAt'])
export class DomainEvent {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  /** The event name listeners subscribe to with @OnEvent (e.g. `appointment.confirmed`). */
  @Column({ type: 'varchar', length: 64 })
  type: string;

  @Column({ type: 'json' })
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- free-form JSON (TypeORM cannot type-check `unknown` on insert)
  payload: Record<string, any>;

  @Column({ name: 'created_at', type: Date })
  createdAt: Date;

  /** Due for (re)delivery from then on. */
  @Column({ name: 'next_attempt_at', type: Date })
  nextAttemptAt: Date;

  /** A relay is delivering it until then; past it, another relay may take it up. */
  @Column({ name: 'lease_until', type: Date, nullable: true })
  leaseUntil: Date | null;

  /** Deliveries started so far. */
  @Column({ type: 'integer', default: 0 })
  attempts: number;

  @Column({ name: 'last_error', type: 'varchar', length: 500, nullable: true })
  lastError: string | null;

  /** Set once every listener succeeded; never delivered again after that. */
  @Column({ name: 'processed_at', type: Date, nullable: true })
  processedAt: Date | null;
}
