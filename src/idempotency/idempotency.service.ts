import { Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { createHash, randomUUID } from 'node:crypto';
import { Repository } from 'typeorm';
import { Clock } from '../common/clock.js';
import { IdempotencyKey } from './idempotency-key.entity.js';

/** How long a key and its answer are kept. */
export const IDEMPOTENCY_TTL_MS = 24 * 3_600_000;
/** A running request's claim lasts this long unless renewed; past it the holder is presumed dead. */
export const IDEMPOTENCY_LEASE_MS = 60_000;
/** How often a running request renews its claim. */
export const IDEMPOTENCY_RENEW_MS = 20_000;
/** Retry-After (seconds) answered with 409 while the first request runs. */
export const IDEMPOTENCY_RETRY_AFTER_SECONDS = 1;
/** Longest accepted key. */
export const IDEMPOTENCY_KEY_MAX_LENGTH = 255;
const PURGE_INTERVAL_MS = 3_600_000;

export type Claim =
  /**
   * This request holds the key: run it, then complete() or release(). `takenOver`: the claim of a request that died;
   * what it wrote is keyed by this id (IdempotentSendKey), so the claim is not deleted if this run's answer is not kept.
   */
  | { kind: 'owner'; id: string; takenOver?: boolean }
  /** Already answered: replay this. */
  | { kind: 'replay'; status: number; body: string }
  /** The key was used for another request (other body or route). */
  | { kind: 'mismatch' }
  /** The first request with this key is still running. */
  | { kind: 'running' };

/** sha-256 of the method, the route and the body as canonical JSON (object keys sorted at every level). */
export function requestHash(method: string, route: string, body: unknown): string {
  return createHash('sha256').update(`${method.toUpperCase()} ${route}\n`).update(canonicalJson(body)).digest('hex');
}

export function canonicalJson(value: unknown): string {
  if (value === undefined) return '';
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const entries = Object.keys(value)
    .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
  return `{${entries.join(',')}}`;
}

/**
 * Idempotency keys in the database, per user. The claim is an insert that the unique (user, key) index lets
 * only one request win, on every instance; the loser reads the winner's row and replays its answer, or is
 * told to wait (still running) or that the key was used for another request.
 */
@Injectable()
export class IdempotencyService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('Idempotency');
  private purgeTimer: NodeJS.Timeout | null = null;
  /** The renewals of the claims this instance holds (see hold()). */
  private readonly holds = new Set<NodeJS.Timeout>();
  /** IDEMPOTENCY_LEASE_MS and IDEMPOTENCY_RENEW_MS, as fields so that a test can shorten them. */
  readonly leaseMs: number = IDEMPOTENCY_LEASE_MS;
  readonly renewMs: number = IDEMPOTENCY_RENEW_MS;

  constructor(
    @InjectRepository(IdempotencyKey) private readonly keys: Repository<IdempotencyKey>,
    private readonly clock: Clock,
  ) {}

  onModuleInit(): void {
    this.purgeTimer = setInterval(() => {
      this.purgeExpired().catch((error: unknown) => this.logger.warn(`Purge of expired idempotency keys failed: ${String(error)}`));
    }, PURGE_INTERVAL_MS);
    this.purgeTimer.unref();
  }

  onModuleDestroy(): void {
    if (this.purgeTimer) clearInterval(this.purgeTimer);
    for (const timer of this.holds) clearInterval(timer);
    this.holds.clear();
  }

  async claim(userId: string, key: string, hash: string): Promise<Claim> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const now = this.clock.now();
      // An expired key is gone: the same key starts over.
      await this.keys
        .createQueryBuilder()
        .delete()
        .where('user_id = :userId AND idempotency_key = :key AND expires_at <= :now', { userId, key, now })
        .execute();
      const id = randomUUID();
      await this.keys
        .createQueryBuilder()
        .insert()
        .values({
          id,
          userId,
          key,
          requestHash: hash,
          state: 'running',
          lockedUntil: new Date(now.getTime() + this.leaseMs),
          responseStatus: null,
          responseBody: null,
          createdAt: now,
          expiresAt: new Date(now.getTime() + IDEMPOTENCY_TTL_MS),
        })
        .orIgnore()
        .execute();
      const row = await this.keys.findOne({ where: { userId, key } });
      if (!row) continue; // purged between our insert's conflict and this read: try again
      if (row.id === id) return { kind: 'owner', id };
      if (row.requestHash !== hash) return { kind: 'mismatch' };
      if (row.state === 'done') return { kind: 'replay', status: row.responseStatus ?? 200, body: row.responseBody ?? '' };
      if (row.lockedUntil && row.lockedUntil.getTime() > now.getTime()) return { kind: 'running' };
      // The request holding it stopped renewing (its process died): take the key over, if no one else did.
      const taken = await this.keys
        .createQueryBuilder()
        .update()
        .set({ lockedUntil: new Date(now.getTime() + this.leaseMs) })
        .where("id = :id AND state = 'running' AND (locked_until IS NULL OR locked_until <= :now)", { id: row.id, now })
        .execute();
      return taken.affected ? { kind: 'owner', id: row.id, takenOver: true } : { kind: 'running' };
    }
    return { kind: 'running' };
  }

  /**
   * Keeps a running request's claim alive: renews it every renewMs until `stop` is called (once its answer is stored
   * or the key released), the claim is no longer running (stored or released by anyone), or the app stops. Not tied
   * to the client's connection: a client that gave up retries with the same key while the request may still send
   * its SMS, and must get 409, not take the key over.
   */
  hold(id: string): () => void {
    const stop = () => {
      clearInterval(timer);
      this.holds.delete(timer);
    };
    const timer = setInterval(() => {
      this.renew(id).then(
        (running) => {
          if (!running) stop();
        },
        (error: unknown) => this.logger.warn(`Could not renew an idempotency claim: ${String(error)}`),
      );
    }, this.renewMs);
    timer.unref();
    this.holds.add(timer);
    return stop;
  }

  /** Keeps a running request's claim alive for another lease; false when it is no longer running. */
  async renew(id: string): Promise<boolean> {
    const lockedUntil = new Date(this.clock.now().getTime() + this.leaseMs);
    const result = await this.keys
      .createQueryBuilder()
      .update()
      .set({ lockedUntil })
      .where("id = :id AND state = 'running'", { id })
      .execute();
    return (result.affected ?? 1) > 0;
  }

  /** Stores the answer every later request with the key replays. */
  async complete(id: string, status: number, body: string): Promise<void> {
    await this.keys
      .createQueryBuilder()
      .update()
      .set({ state: 'done', lockedUntil: null, responseStatus: status, responseBody: body })
      .where("id = :id AND state = 'running'", { id })
      .execute();
  }

  /** Frees the key (an answer not kept): the next request with it runs afresh. */
  async release(id: string): Promise<void> {
    await this.keys.createQueryBuilder().delete().where("id = :id AND state = 'running'", { id }).execute();
  }

  /**
   * Frees a taken-over claim (an answer not kept: a 429, a 503…) without deleting it: the next request with the key
   * takes it over at once, with this id, and so finds what the dead request wrote (a message, a batch) instead of
   * writing it again.
   */
  async expire(id: string): Promise<void> {
    await this.keys
      .createQueryBuilder()
      .update()
      .set({ lockedUntil: this.clock.now() })
      .where("id = :id AND state = 'running'", { id })
      .execute();
  }

  /** Deletes every expired key (also done per key on access). */
  async purgeExpired(): Promise<number> {
    const result = await this.keys.createQueryBuilder().delete().where('expires_at <= :now', { now: this.clock.now() }).execute();
    return result.affected ?? 0;
  }
}
