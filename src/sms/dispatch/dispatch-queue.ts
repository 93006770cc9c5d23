import type { SmsMessage } from '../sms-message.entity.js';

/** Injection token of the DispatchQueue chosen at boot (inline without REDIS_URL, BullMQ with it). */
export const DISPATCH_QUEUE = Symbol('DISPATCH_QUEUE');

/**
 * Says "look at message X" to whoever sends: the rows are the truth, a queue only wakes workers and
 * holds the limits toward the provider (requests in flight, sends started per second).
 */
export interface DispatchQueue {
  readonly kind: 'inline' | 'bullmq';
  /** New or rescheduled messages (notBefore null: due now). Never throws: a sweep finds what it missed. */
  notify(messages: readonly QueuedMessage[]): void;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** GET /api/health/ready's `dispatcher`: started and not stopped (BullMQ: its worker running too). */
  readiness(): { ready: boolean; detail: string };
  /** Resolves once the sends this process has in flight have finished, bookkeeping included (inline only; for tests). */
  idle?(): Promise<void>;
  /**
   * Cancelled messages: their jobs leave the queue (BullMQ only), so they do not take the global rate limit's turns
   * ahead of other messages. Never throws; a job left behind finds its row cancelled and does nothing.
   */
  forget?(ids: readonly string[]): void;
  /** The queue's own Prometheus exposition, appended to GET /api/metrics (BullMQ only). */
  exportMetrics?(): Promise<string>;
  /**
   * A free sending slot of this process for a message due now (inline only): the caller writes its row
   * already claimed (status `sending`, attempt 1, lease until `leaseUntil`), then hands it over with `run`,
   * or gives the slot back with `release` if the write failed. Null when every slot is taken (or stopped):
   * the row is then written `queued` and notified as usual.
   */
  reserve?(now: Date): DirectSlot | null;
}

/** A message handed to the queue: `bulk` (part of a batch) goes after the others waiting (BullMQ: a lower priority). */
export interface QueuedMessage {
  id: string;
  notBefore: Date | null;
  bulk?: boolean;
}

export interface DirectSlot {
  leaseUntil: Date;
  run(message: SmsMessage): void;
  release(): void;
}
