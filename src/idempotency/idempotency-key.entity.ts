import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

export type IdempotencyState = 'running' | 'done';

/**
 * One Idempotency-Key of one user: claimed (`running`, with a lease its request renews) before the route
 * runs, then `done` with the answer to replay. The unique (user, key) index is what makes the claim atomic
 * across instances.
 */
@Entity('idempotency_keys')
@Index('UQ_idempotency_keys_user_key', ['userId', 'key'], { unique: true })
@Index('IDX_idempotency_keys_expires', ['expiresAt'])
export class IdempotencyKey {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id: string;

  @Column({ name: 'user_id', type: 'varchar', length: 36 })
  userId: string;

  @Column({ name: 'idempotency_key', type: 'varchar', length: 255 })
  key: string;

  /** sha-256 (hex) of the method, the route and the canonical JSON body. */
  @Column({ name: 'request_hash', type: 'varchar', length: 64 })
  requestHash: string;

  @Column({ type: 'varchar', length: 16 })
  state: IdempotencyState;

  /** While `running`: past this, the request holding the key is presumed dead and another may take it. */
  @Column({ name: 'locked_until', type: Date, nullable: true })
  lockedUntil: Date | null;

  @Column({ name: 'response_status', type: 'integer', nullable: true })
  responseStatus: number | null;

  /** The answer's body exactly as sent (JSON text). */
  @Column({ name: 'response_body', type: 'text', nullable: true })
  responseBody: string | null;

  @Column({ name: 'created_at', type: Date })
  createdAt: Date;

  @Column({ name: 'expires_at', type: Date })
  expiresAt: Date;
}
