import { FailureStreak } from '../common/failure-streak.js';
import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';
import { InjectRepository } from '@nestjs/typeorm';
import pLimit from 'p-limit';
import { IsNull, LessThan, Repository } from 'typeorm';
import { AppConfig } from '../config/app-config.js';
import { DomainEvent } from './domain-event.entity.js';
import type { DomainEventEnvelope } from './domain-event.types.js';

/** How often each relay looks for events nobody woke it for (written by a process that died, retries). */
export const RELAY_POLL_MS = 1000;
/** A claimed event is this relay's until then; a relay that dies loses it, and another takes it up. */
export const RELAY_LEASE_MS = 120_000;
/** Processed events are kept this long (to look into), then deleted; checked once an hour. */
export const RELAY_KEEP_PROCESSED_MS = 7 * 24 * 3_600_000;
const PRUNE_EVERY_MS = 3_600_000;
/** Events claimed per pass, and delivered at once. */
const RELAY_BATCH = 50;
const RELAY_CONCURRENCY = 8;
/** Backoff after a listener failed: 2 s, 4 s, 8 s… up to 5 minutes, with jitter. */
const RETRY_BASE_MS = 2000;
const RETRY_MAX_MS = 300_000;

/**
 * Hands each outbox event to its listeners at least once, with any number of instances on one
 * database. A pass reads due events, claims each with a conditional UPDATE that sets a lease (only the
 * relay whose update changed the row delivers it), emits it (`emitAsync`, waiting for every listener),
 * then marks it processed; if a listener throws, the event is due again after a backoff. A relay that
 * dies mid-delivery leaves the lease to expire and the event is delivered again, so listeners must
 * tolerate replays. Woken at once after a commit that published events; polls otherwise.
 *
 * Outbox timing uses the real time, not the injectable Clock (which tests move to other days).
 */
@Injectable()
export class DomainEventRelay implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(DomainEventRelay.name);
  /** A pass failing every second while the database is away: said once, and its end once. */
  private readonly passes = new FailureStreak(this.logger, 'Event relay pass');
  /** Passes run one after the other in an instance. */
  private chain: Promise<unknown> = Promise.resolve();
  private passQueued = false;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private lastPrune = 0;

  constructor(
    @InjectRepository(DomainEvent) private readonly events: Repository<DomainEvent>,
    private readonly emitter: EventEmitter2,
    private readonly config: AppConfig,
  ) {}

  get enabled(): boolean {
    return this.config.events.relayEnabled && !this.stopped;
  }

  onApplicationBootstrap(): void {
    if (!this.enabled) return;
    this.timer = setInterval(() => {
      this.wake();
      if (Date.now() - this.lastPrune >= PRUNE_EVERY_MS) void this.prune();
    }, RELAY_POLL_MS);
    this.timer.unref();
    this.wake();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.chain;
  }

  /** Starts a pass soon (coalesced with one already waiting); a no-op when this instance's relay is off. */
  wake(): void {
    if (!this.enabled || this.passQueued) return;
    this.passQueued = true;
    void this.enqueue().then(
      () => this.passes.succeeded(),
      (error: unknown) => this.passes.failed(error),
    );
  }

  /**
   * Runs passes until one finds nothing to deliver: every event due now and not leased by another
   * instance has been handled (delivered, or failed and scheduled again). For tests.
   */
  async drain(): Promise<void> {
    while ((await this.enqueue()) > 0);
  }

  private enqueue(): Promise<number> {
    const pass = this.chain.then(() => {
      this.passQueued = false;
      return this.pass();
    });
    this.chain = pass.catch(() => undefined);
    return pass;
  }

  /** One pass; returns how many events it claimed. */
  private async pass(): Promise<number> {
    const now = new Date();
    const due = await this.events
      .createQueryBuilder('e')
      .select(['e.id', 'e.type', 'e.payload', 'e.attempts'])
      .where('e.processedAt IS NULL')
      .andWhere('e.nextAttemptAt <= :now', { now })
      .andWhere('(e.leaseUntil IS NULL OR e.leaseUntil <= :now)', { now })
      .orderBy('e.createdAt', 'ASC')
      .limit(RELAY_BATCH)
      .getMany();
    const claimed: DomainEvent[] = [];
    for (const event of due) if (await this.claim(event, now)) claimed.push(event);
    const limit = pLimit(RELAY_CONCURRENCY);
    await Promise.all(claimed.map((event) => limit(() => this.deliver(event))));
    return claimed.length;
  }

  /** Deletes events processed more than RELAY_KEEP_PROCESSED_MS ago (their SMS keep their own dedupe keys). */
  async prune(): Promise<number> {
    this.lastPrune = Date.now();
    try {
      const result = await this.events.delete({ processedAt: LessThan(new Date(Date.now() - RELAY_KEEP_PROCESSED_MS)) });
      return result.affected ?? 0;
    } catch (error) {
      this.logger.error(`Pruning processed events failed: ${String(error)}`);
      return 0;
    }
  }

  /** The atomic claim: only one relay's UPDATE matches an unleased, unprocessed, due event. */
  private async claim(event: DomainEvent, now: Date): Promise<boolean> {
    const result = await this.events
      .createQueryBuilder()
      .update(DomainEvent)
      .set({ leaseUntil: new Date(now.getTime() + RELAY_LEASE_MS), attempts: () => 'attempts + 1' })
      .where('id = :id', { id: event.id })
      .andWhere('processed_at IS NULL')
      .andWhere('next_attempt_at <= :now', { now })
      .andWhere('(lease_until IS NULL OR lease_until <= :now)', { now })
      .execute();
    if (result.affected !== 1) return false;
    event.attempts += 1;
    return true;
  }

  private async deliver(event: DomainEvent): Promise<void> {
    const envelope: DomainEventEnvelope = { id: event.id, type: event.type, payload: event.payload, attempt: event.attempts };
    try {
      await this.emitter.emitAsync(event.type, envelope);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const delay = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** Math.min(event.attempts - 1, 16));
      // Jitter keeps instances that failed together from retrying together.
      const nextAttemptAt = new Date(Date.now() + delay / 2 + Math.random() * (delay / 2));
      this.logger.warn(
        `Event ${event.type} ${event.id} failed (attempt ${event.attempts}), retried after ${nextAttemptAt.toISOString()}: ${message}`,
      );
      await this.events.update(
        { id: event.id, processedAt: IsNull() },
        { leaseUntil: null, nextAttemptAt, lastError: message.slice(0, 500) },
      );
      return;
    }
    await this.events.update({ id: event.id }, { processedAt: new Date(), leaseUntil: null, lastError: null });
  }
}
