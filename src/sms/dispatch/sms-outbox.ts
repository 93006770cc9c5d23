import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { In, Repository } from 'typeorm';
import { Atomic, type Row, type Statement, type Work } from '../../database/atomic.js';
import { InsertBatcher } from '../../database/insert-batcher.js';
import { SmsBatch } from '../sms-batch.entity.js';
import { SentSettlements } from './sent-settlements.js';
import { SMS_CANCELLED, SMS_FAILED, SMS_QUEUED, SMS_SENDING, SMS_SKIPPED, SmsMessage } from '../sms-message.entity.js';

/** Error codes stored on a waiting row whose previous attempt may have reached the provider. */
export const UNKNOWN_OUTCOME_CODES = ['TIMEOUT', 'CONNECTION_LOST', 'LEASE_EXPIRED'] as const;
export const LEASE_EXPIRED = 'LEASE_EXPIRED';

/** Rows per multi-row INSERT: well under both databases' bound-parameter limits (25 columns). */
const INSERT_CHUNK = 500;

/** How a claimed attempt ended. */
export type Settlement =
  | { kind: 'sent'; sid: string; status: string; from: string | null }
  | { kind: 'failed'; errorCode: string; errorMessage: string }
  /** Not sent on purpose (the number opted out before the message left). */
  | { kind: 'skipped'; errorCode: string; errorMessage: string }
  | { kind: 'retry'; notBefore: Date; errorCode: string; errorMessage: string };

export interface SettleResult {
  /** False when this worker no longer owned the row (its lease expired and another took it). */
  applied: boolean;
  /** Set when this settlement was the batch's last open message. */
  finishedBatchId?: string;
}

const T = '"sms_messages"';
const B = '"sms_batches"';
/**
 * A row ours to send: waiting, no provider SID, due. Every row is written with `not_before` (its creation
 * time unless sent later), so this is one range of IDX_sms_messages_outbox (status, provider_sid,
 * not_before), read in `not_before` order: first in, first out, however many sent rows share Twilio's
 * `queued` status.
 */
const DUE = `("status" = '${SMS_QUEUED}' AND "provider_sid" IS NULL AND "not_before" <= ?)`;
/** A row whose worker's lease ran out: the outcome of its call is unknown (few rows: at most those in flight). */
const ABANDONED = `("status" = '${SMS_SENDING}' AND "lease_until" < ?)`;

/**
 * The outbox's writes: rows in, atomic claims with a lease, conditional settlements (only the lease
 * holder's attempt counts), cancellations, and each batch's count of open messages.
 */
@Injectable()
export class SmsOutbox {
  private readonly inserts: InsertBatcher<SmsMessage>;
  private readonly sent: SentSettlements;

  constructor(
    @InjectRepository(SmsMessage) private readonly messages: Repository<SmsMessage>,
    @InjectRepository(SmsBatch) private readonly batches: Repository<SmsBatch>,
    private readonly atomic: Atomic,
  ) {
    this.inserts = new InsertBatcher(messages);
    this.sent = new SentSettlements(atomic);
  }

  /** One message, group-committed with concurrent ones (single and notification sends). */
  insert(row: SmsMessage): Promise<void> {
    return this.inserts.insert(row);
  }

  findByDedupeKey(key: string): Promise<SmsMessage | null> {
    return this.messages.findOneBy({ dedupeKey: key });
  }

  get(id: string): Promise<SmsMessage | null> {
    return this.messages.findOneBy({ id });
  }

  /** A batch and all its messages, in one transaction: all rows or none. */
  async insertBatch(batch: SmsBatch, rows: SmsMessage[], extra: Statement[] = []): Promise<void> {
    const batchStatement = this.insertStatement(this.batches, [batch]);
    const chunks: Statement[] = [];
    for (let i = 0; i < rows.length; i += INSERT_CHUNK) chunks.push(this.insertStatement(this.messages, rows.slice(i, i + INSERT_CHUNK)));
    await this.atomic.run(function* () {
      yield batchStatement;
      for (const chunk of chunks) yield chunk;
      for (const statement of extra) yield statement;
    });
  }

  /**
   * A multi-row INSERT of entities (every column set by the caller). Columns null in every row are left to
   * their default (null), and a Date shared by the rows (their creation time) is converted once: a bulk
   * batch's rows differ in a few columns only.
   */
  insertStatement<E extends object>(repository: Repository<E>, entities: E[]): Statement {
    const { metadata } = repository;
    const driver = repository.manager.connection.driver;
    const columns = metadata.columns.filter((c) => c.isInsert && entities.some((e) => c.getEntityValue(e) != null));
    const dates = new Map<Date, unknown>();
    const prepare = (value: unknown, column: (typeof columns)[number]): unknown => {
      if (value === undefined || value === null) return null;
      if (!(value instanceof Date)) return driver.preparePersistentValue(value, column);
      if (!dates.has(value)) dates.set(value, driver.preparePersistentValue(value, column));
      return dates.get(value);
    };
    const params: unknown[] = [];
    const tuple = `(${columns.map(() => '?').join(', ')})`;
    for (const entity of entities) for (const column of columns) params.push(prepare(column.getEntityValue(entity), column));
    const names = columns.map((c) => driver.escape(c.databaseName)).join(', ');
    return { sql: `INSERT INTO ${driver.escape(metadata.tableName)} (${names}) VALUES ${entities.map(() => tuple).join(', ')}`, params };
  }

  /**
   * Claims up to `limit` abandoned, then due, rows for `leaseMs`: conditional UPDATEs (on PostgreSQL their
   * candidates are locked with FOR UPDATE SKIP LOCKED, so concurrent claimers never wait on each other
   * nor take the same row). A reclaimed abandoned row is marked LEASE_EXPIRED: it is looked up first.
   * `withAbandoned` false skips looking for abandoned rows (the inline loop does that once per poll).
   */
  async claimDue(limit: number, leaseMs: number, now = new Date(), withAbandoned = true): Promise<SmsMessage[]> {
    if (limit <= 0) return [];
    const t = this.atomic.time(now);
    const lease = this.atomic.time(new Date(now.getTime() + leaseMs));
    const lock = this.atomic.postgres ? ' FOR UPDATE SKIP LOCKED' : '';
    // Abandoned rows first (they have waited longest), then due ones in not_before order.
    const abandoned = withAbandoned
      ? await this.atomic.query(`${this.claimSet()} WHERE "id" IN (SELECT "id" FROM ${T} WHERE ${ABANDONED} LIMIT ?${lock}) RETURNING *`, [
          lease,
          t,
          t,
          t,
          limit,
        ])
      : [];
    const due =
      abandoned.length < limit
        ? await this.atomic.query(
            `${this.claimSet()} WHERE "id" IN (SELECT "id" FROM ${T} WHERE ${DUE} ORDER BY "not_before" LIMIT ?${lock}) RETURNING *`,
            [lease, t, t, t, limit - abandoned.length],
          )
        : [];
    return this.load([...abandoned, ...due]);
  }

  /** Claims one row by id if it is due or abandoned (a queue job's message); null otherwise. */
  async claimById(id: string, leaseMs: number, now = new Date()): Promise<SmsMessage | null> {
    const t = this.atomic.time(now);
    const rows = await this.atomic.query(`${this.claimSet()} WHERE "id" = ? AND (${DUE} OR ${ABANDONED}) RETURNING *`, [
      this.atomic.time(new Date(now.getTime() + leaseMs)),
      t,
      t,
      id,
      t,
      t,
    ]);
    return this.load(rows)[0] ?? null;
  }

  private claimSet(): string {
    return (
      `UPDATE ${T} SET "status" = '${SMS_SENDING}', "lease_until" = ?, "attempts" = "attempts" + 1, ` +
      `"last_attempt_at" = ?, "updated_at" = ?, ` +
      `"error_code" = CASE WHEN "status" = '${SMS_SENDING}' THEN '${LEASE_EXPIRED}' ELSE "error_code" END`
    );
  }

  /** Claimed rows as entities, from what the UPDATE returned (the driver's own conversions, as TypeORM reads them). */
  private load(rows: Row[]): SmsMessage[] {
    const { metadata } = this.messages;
    const driver = this.messages.manager.connection.driver;
    return rows.map((raw) => {
      const message = new SmsMessage();
      for (const column of metadata.columns) column.setEntityValue(message, driver.prepareHydratedValue(raw[column.databaseName], column));
      return message;
    });
  }

  /**
   * Stores how the attempt numbered `attempt` ended, if this worker still holds the row; a final state
   * counts the batch's message as settled, and the last one ends the batch.
   */
  async settle(message: SmsMessage, attempt: number, settlement: Settlement, now = new Date()): Promise<SettleResult> {
    const t = this.atomic.time(now);
    let set: string;
    let params: unknown[];
    if (settlement.kind === 'sent') {
      set = `"status" = ?, "provider_sid" = ?, "from" = COALESCE(?, "from"), "error_code" = NULL, "error_message" = NULL, "sent_at" = ?`;
      params = [settlement.status, settlement.sid, settlement.from, t];
    } else if (settlement.kind === 'failed' || settlement.kind === 'skipped') {
      set = `"status" = '${settlement.kind === 'failed' ? SMS_FAILED : SMS_SKIPPED}', "error_code" = ?, "error_message" = ?`;
      params = [settlement.errorCode, settlement.errorMessage.slice(0, 500)];
    } else {
      set = `"status" = '${SMS_QUEUED}', "not_before" = ?, "error_code" = ?, "error_message" = ?`;
      params = [this.atomic.time(settlement.notBefore), settlement.errorCode, settlement.errorMessage.slice(0, 500)];
    }
    const final = settlement.kind !== 'retry';
    const batchId = message.batchId;
    const update: Statement = {
      sql: `UPDATE ${T} SET ${set}, "lease_until" = NULL, "updated_at" = ? WHERE "id" = ? AND "status" = '${SMS_SENDING}' AND "attempts" = ? RETURNING "id"`,
      params: [...params, t, message.id, attempt],
    };
    const finish = this.finishStatements(batchId, t);
    if (!final || !batchId) {
      // Single and notification sends: their answers stored in the same turn share one write.
      if (settlement.kind === 'sent') return { applied: await this.sent.store(message.id, attempt, settlement, t) };
      // One statement: no transaction needed.
      return { applied: (await this.atomic.query(update.sql, update.params)).length > 0 };
    }
    return this.atomic.run(function* (): Work<SettleResult> {
      const changed = yield update;
      if (!changed.length) return { applied: false };
      if (!final || !batchId) return { applied: true };
      const [left] = yield finish.decrement(1);
      if (Number(left?.remaining) > 0) return { applied: true };
      const finished = yield finish.end;
      return { applied: true, finishedBatchId: finished.length ? batchId : undefined };
    });
  }

  private finishStatements(batchId: string | null, t: string) {
    return {
      decrement: (n: number): Statement => ({
        sql: `UPDATE ${B} SET "remaining" = "remaining" - ? WHERE "id" = ? RETURNING "remaining"`,
        params: [n, batchId],
      }),
      end: {
        sql:
          `UPDATE ${B} SET "finished_at" = ?, "status" = CASE WHEN "status" = 'cancelled' THEN 'cancelled' ELSE 'completed' END ` +
          `WHERE "id" = ? AND "finished_at" IS NULL AND "remaining" <= 0 RETURNING "id"`,
        params: [t, batchId],
      } as Statement,
    };
  }

  /** Marks the batch started (first claim of one of its messages). */
  async markBatchStarted(batchId: string, now = new Date()): Promise<void> {
    await this.atomic.query(`UPDATE ${B} SET "started_at" = ? WHERE "id" = ? AND "started_at" IS NULL`, [this.atomic.time(now), batchId]);
  }

  /** Cancels one waiting message. Returns the ids cancelled (none when it already left) and a finished batch. */
  async cancelMessage(message: SmsMessage, now = new Date()): Promise<{ cancelled: boolean; finishedBatchId?: string }> {
    const t = this.atomic.time(now);
    const finish = this.finishStatements(message.batchId, t);
    const batchId = message.batchId;
    return this.atomic.run(function* () {
      const changed = yield {
        sql: `UPDATE ${T} SET "status" = '${SMS_CANCELLED}', "updated_at" = ? WHERE "id" = ? AND "status" = '${SMS_QUEUED}' AND "provider_sid" IS NULL RETURNING "id"`,
        params: [t, message.id],
      };
      if (!changed.length) return { cancelled: false };
      if (!batchId) return { cancelled: true };
      yield finish.decrement(1);
      const finished = yield finish.end;
      return { cancelled: true, finishedBatchId: finished.length ? batchId : undefined };
    });
  }

  /** Cancels every waiting message of a batch and marks it cancelled; returns the cancelled ids. */
  async cancelBatch(batchId: string, now = new Date()): Promise<{ ids: string[]; finished: boolean }> {
    const t = this.atomic.time(now);
    const finish = this.finishStatements(batchId, t);
    return this.atomic.run(function* () {
      yield {
        sql: `UPDATE ${B} SET "status" = 'cancelled', "cancelled_at" = ? WHERE "id" = ? AND "status" = 'running'`,
        params: [t, batchId],
      };
      const rows = yield {
        sql: `UPDATE ${T} SET "status" = '${SMS_CANCELLED}', "updated_at" = ? WHERE "batch_id" = ? AND "status" = '${SMS_QUEUED}' AND "provider_sid" IS NULL RETURNING "id"`,
        params: [t, batchId],
      };
      if (rows.length) yield finish.decrement(rows.length);
      const finished = yield finish.end;
      return { ids: rows.map((r) => String(r.id)), finished: finished.length > 0 };
    });
  }

  /** Provider SIDs already stored, among `sids` (a look-up never adopts another row's message). */
  async ownedSids(sids: string[]): Promise<Set<string>> {
    if (!sids.length) return new Set();
    const rows = await this.messages.find({ select: { providerSid: true }, where: { providerSid: In(sids) } });
    return new Set(rows.map((r) => r.providerSid!));
  }

  /** Ids of due or abandoned rows (the BullMQ sweep hands them to the queue again; future ones have their delayed job). */
  async dueIds(limit: number, now = new Date()): Promise<{ id: string; notBefore: Date | null }[]> {
    const t = this.atomic.time(now);
    const rows = await this.messages
      .createQueryBuilder('m')
      .select(['m.id', 'm.notBefore'])
      .where(
        `(m.status = :queued AND m.providerSid IS NULL AND (m.notBefore IS NULL OR m.notBefore <= :t)) OR (m.status = :sending AND m.leaseUntil < :t)`,
        {
          queued: SMS_QUEUED,
          sending: SMS_SENDING,
          t,
        },
      )
      .orderBy('m.notBefore', 'ASC')
      .limit(limit)
      .getMany();
    return rows.map((r) => ({ id: r.id, notBefore: r.notBefore }));
  }
}
