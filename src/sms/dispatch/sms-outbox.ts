import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { InjectRepository } from '@nestjs/typeorm';
import { In, Repository } from 'typeorm';
import { AuditLog } from '../../audit/audit-log.entity.js';
import { AuditService } from '../../audit/audit.service.js';
import { Atomic, type Row, type Statement, type Work } from '../../database/atomic.js';
import { InsertBatcher } from '../../database/insert-batcher.js';
import { insertStatement } from '../../database/insert-statement.js';
import { DomainEvents } from '../../events/domain-events.service.js';
import { messageUpdatedEvent, reportedDurably, SMS_EVENTS } from '../sms.events.js';
import { batchCountsStatement, tallyBatchRows, type BatchCountRow } from '../batch-counts.js';
import { SmsBatch } from '../sms-batch.entity.js';
import { batchFinishedEntry } from './batch-journal.js';
import { scheduledJournalEntry, sendJournalEntry } from './send-journal.js';
import { SentSettlements } from './sent-settlements.js';
import type { QueuedMessage } from './dispatch-queue.js';
import { SMS_CANCELLED, SMS_FAILED, SMS_QUEUED, SMS_SENDING, SMS_SKIPPED, SmsMessage } from '../sms-message.entity.js';
import type { SmsCategory } from '../marketing/marketing-policy.js';

/**
 * Error codes stored on a waiting row whose previous attempt may have reached the provider: a timeout, a connection
 * lost, a worker stopped mid-send, a gateway's 500, 502 or 504 without Twilio's error (isGatewayFailure: stored as the
 * bare HTTP status; Twilio's own 5xx store their 205xx code).
 */
export const UNKNOWN_OUTCOME_CODES = ['TIMEOUT', 'CONNECTION_LOST', 'LEASE_EXPIRED', '500', '502', '504'] as const;
export const LEASE_EXPIRED = 'LEASE_EXPIRED';

/** Rows per multi-row INSERT: well under both databases' bound-parameter limits (25 columns). */
const INSERT_CHUNK = 500;
/** Bulk rows per SQLite INSERT: 5 parameters a row, well under its 32,766 (PostgreSQL takes the whole batch in one). */
const BULK_CHUNK = 2000;

/** The columns that differ from one message of a batch to the next, one array per column, in the same order. */
export interface BulkMessages {
  id: string[];
  to: string[];
  body: string[];
  segments: number[];
  encoding: string[];
}
const BULK_VARYING = ['id', 'to', 'body', 'segments', 'encoding'] as const;

/** A message a batch cancellation ended. */
export interface CancelledMessage {
  id: string;
  relatedType: string | null;
  relatedId: string | null;
  templateType: string | null;
  /** `transactional` or `marketing` (the metrics' label). */
  category: SmsCategory;
  /** Its `sms.message.updated` was written to the outbox with the cancellation. */
  published: boolean;
}

/** How a claimed attempt ended. */
export type Settlement =
  /**
   * Sent: Twilio's answer to this attempt, or (`adopted`) a message found at Twilio by the look-up of an unknown outcome,
   * stored only if no other row holds that SID (two rows of one number and text may find the same message).
   */
  | { kind: 'sent'; sid: string; status: string; from: string | null; adopted?: true }
  | { kind: 'failed'; errorCode: string; errorMessage: string }
  /** Not sent on purpose (the number opted out before the message left). */
  | { kind: 'skipped'; errorCode: string; errorMessage: string }
  /**
   * Not sent: cancelled while its earlier attempt's outcome was unknown, and that attempt is not at Twilio (its code
   * kept); or its batch was cancelled while it waited for its turn at the rate limit (no code).
   */
  | { kind: 'cancelled'; errorCode: string | null; errorMessage: string }
  | { kind: 'retry'; notBefore: Date; errorCode: string; errorMessage: string }
  /** Not attempted (a marketing message outside the allowed hours): queued again, its claim not counted as an attempt. */
  | { kind: 'held'; notBefore: Date };

export interface SettleResult {
  /** False when this worker no longer owned the row (its lease expired and another took it). */
  applied: boolean;
  /** Set when this settlement was the batch's last open message (its end and the end's journal entry were committed with it). */
  finishedBatchId?: string;
  /** True when `sms.message.updated` was written to the domain-events outbox with the final state. */
  published?: boolean;
  /**
   * Set when a retry or hold found its batch cancelled meanwhile (the attempt was in flight when the batch was
   * cancelled): the message is cancelled instead of queued again, its batch counted (and ended) with it.
   */
  cancelled?: boolean;
  /** Set when an adopted SID (see Settlement) was already another row's: nothing was stored, the attempt is still held. */
  sidTaken?: boolean;
}

const T = '"sms_messages"';
/** The status a final settlement stores (a sent message's is Twilio's, in the settlement). */
const FINAL_STATUS = { failed: SMS_FAILED, skipped: SMS_SKIPPED, cancelled: SMS_CANCELLED } as const;

export function settledStatus(settlement: Settlement): string {
  if (settlement.kind === 'sent') return settlement.status;
  return settlement.kind === 'retry' || settlement.kind === 'held' ? SMS_QUEUED : FINAL_STATUS[settlement.kind];
}
const B = '"sms_batches"';
/** None of the batch's messages (`?`: its id) ended otherwise than cancelled (index on batch_id, status). */
const ALL_CANCELLED = `NOT EXISTS (SELECT 1 FROM ${T} WHERE "batch_id" = ? AND "status" <> '${SMS_CANCELLED}')`;
/**
 * A row ours to send: waiting, no provider SID, due. Every row is written with `not_before` (its creation
 * time unless sent later), so this is one range of IDX_sms_messages_outbox ((status, not_before) of the rows
 * without a SID), read in `not_before` order: first in, first out, however many sent rows share Twilio's
 * `queued` status.
 */
const DUE = `("status" = '${SMS_QUEUED}' AND "provider_sid" IS NULL AND "not_before" <= ?)`;
/**
 * A waiting row whose last attempt's outcome is unknown (UNKNOWN_OUTCOME_CODES): it may be at Twilio already, so a
 * cancellation does not mark it cancelled but sets `cancel_requested_at`, and the dispatcher looks it up once more.
 */
const OUTCOME_UNKNOWN = `("error_code" IS NOT NULL AND "error_code" IN (${UNKNOWN_OUTCOME_CODES.map((c) => `'${c}'`).join(', ')}))`;
/** A waiting row a cancellation marks cancelled at once: not at Twilio, and no earlier attempt that may be. */
const CANCELLABLE = `"status" = '${SMS_QUEUED}' AND "provider_sid" IS NULL AND NOT ${OUTCOME_UNKNOWN}`;
/** A waiting row a cancellation only asks to stop (see OUTCOME_UNKNOWN), not asked yet. */
const CANCEL_TO_REQUEST = `"status" = '${SMS_QUEUED}' AND "provider_sid" IS NULL AND ${OUTCOME_UNKNOWN} AND "cancel_requested_at" IS NULL`;
/** A row whose worker's lease ran out: the outcome of its call is unknown (few rows: at most those in flight). */
const ABANDONED = `("status" = '${SMS_SENDING}' AND "lease_until" < ?)`;

/**
 * The outbox's writes: rows in, atomic claims with a lease, conditional settlements (only the lease
 * holder's attempt counts), cancellations, and each batch's count of open messages. The journal entry of a
 * single or notification send is written in the transaction that stores its final state (settled, cancelled,
 * skipped): the state and the entry cannot diverge across a crash, and only the writer whose conditional
 * UPDATE applied writes it. Likewise the journal entry of a bulk batch's end (`phase: finished`, with its
 * final counts read in that transaction) is written in the transaction whose conditional UPDATE ends the batch.
 */
@Injectable()
export class SmsOutbox {
  private readonly inserts: InsertBatcher<SmsMessage>;
  private readonly sent: SentSettlements;

  constructor(
    @InjectRepository(SmsMessage) private readonly messages: Repository<SmsMessage>,
    @InjectRepository(SmsBatch) private readonly batches: Repository<SmsBatch>,
    private readonly atomic: Atomic,
    private readonly domainEvents: DomainEvents,
    private readonly audit: AuditService,
    @InjectRepository(AuditLog) private readonly auditLogs: Repository<AuditLog>,
  ) {
    this.inserts = new InsertBatcher(messages);
    this.sent = new SentSettlements(atomic, auditLogs);
  }

  /** The journal entry of a message in its final state (every kind: a batch's messages each have theirs). */
  private journalEntry(message: SmsMessage): AuditLog {
    return Object.assign(new AuditLog(), { id: randomUUID(), ...this.audit.toRow(sendJournalEntry(message)) });
  }

  /** One message, group-committed with concurrent ones (single and notification sends). */
  insert(row: SmsMessage): Promise<void> {
    return this.inserts.insert(row);
  }

  /** A message to be sent later (`sendAt`), with its `sms_scheduled` journal entry, in one transaction. */
  async insertScheduled(row: SmsMessage): Promise<void> {
    const message = this.insertStatement(this.messages, [row]);
    const journal = insertStatement(this.auditLogs, [
      Object.assign(new AuditLog(), { id: randomUUID(), ...this.audit.toRow(scheduledJournalEntry(row)) }),
    ]);
    await this.atomic.run(function* () {
      yield message;
      yield journal;
    });
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
   * A bulk batch and all its messages, in one transaction: all rows or none. `shared` holds what every message
   * has in common (its id, to, body, segments and encoding are ignored); `messages` the rest, column by column.
   * The shared values are bound once per statement instead of once per row: on PostgreSQL the whole batch is one
   * `INSERT … SELECT … FROM unnest(<5 arrays>)`, on SQLite one `INSERT … SELECT … FROM (VALUES …)` per 2,000
   * rows. 10,000 rows took about 90 ms (SQLite) and 250 ms (PostgreSQL) as 25-column multi-row INSERTs.
   */
  async insertBulk(batch: SmsBatch, shared: SmsMessage, messages: BulkMessages, extra: Statement[] = []): Promise<void> {
    const { metadata } = this.messages;
    const driver = this.messages.manager.connection.driver;
    const varying = BULK_VARYING.map((name) => metadata.findColumnWithPropertyName(name)!);
    const common = metadata.columns.filter(
      (c) => c.isInsert && !(BULK_VARYING as readonly string[]).includes(c.propertyName) && c.getEntityValue(shared) != null,
    );
    const names = [...common, ...varying].map((c) => driver.escape(c.databaseName)).join(', ');
    const head = `INSERT INTO ${driver.escape(metadata.tableName)} (${names}) SELECT ${common.map(() => '?').join(', ')}`;
    const values = common.map((c) => driver.preparePersistentValue(c.getEntityValue(shared), c));
    const statements: Statement[] = [this.insertStatement(this.batches, [batch])];
    const count = messages.id.length;
    if (this.atomic.postgres) {
      // Typed arrays (uuid[], character varying[]…): unnest needs them; the shared values take the columns' types.
      const arrays = varying.map((c) => `?::${driver.normalizeType(c)}[]`).join(', ');
      statements.push({ sql: `${head}, u.* FROM unnest(${arrays}) AS u`, params: [...values, ...BULK_VARYING.map((k) => messages[k])] });
    } else {
      const columns = varying.map((_, i) => `v.column${i + 1}`).join(', ');
      const tuple = `(${varying.map(() => '?').join(', ')})`;
      for (let start = 0; start < count; start += BULK_CHUNK) {
        const end = Math.min(count, start + BULK_CHUNK);
        const params: unknown[] = values.slice();
        for (let i = start; i < end; i++) {
          params.push(messages.id[i], messages.to[i], messages.body[i], messages.segments[i], messages.encoding[i]);
        }
        const rows = new Array<string>(end - start).fill(tuple).join(', ');
        statements.push({ sql: `${head}, ${columns} FROM (VALUES ${rows}) AS v`, params });
      }
    }
    await this.atomic.run(function* () {
      for (const statement of statements) yield statement;
      for (const statement of extra) yield statement;
    });
  }

  /** A multi-row INSERT of entities, for a transaction (see src/database/insert-statement.ts). */
  insertStatement<E extends object>(repository: Repository<E>, entities: E[]): Statement {
    return insertStatement(repository, entities);
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
    // Abandoned rows first (they have waited longest), then due ones in not_before order: first those outside a
    // batch (IDX_sms_messages_outbox_single), so a confirmation never waits behind a 10,000-recipient batch.
    const abandoned = withAbandoned
      ? await this.claimAmong(`SELECT "id" FROM ${T} WHERE ${ABANDONED} LIMIT ?${lock}`, [t, limit], lease, t)
      : [];
    const n = limit - abandoned.length;
    if (n <= 0) return this.load(abandoned);
    // One statement, two lanes: the due messages outside a batch first (IDX_sms_messages_outbox_single; SQLite, without
    // statistics, would take the outbox index and step over the batch's rows: it is named), then a batch's.
    const singleIndex = this.atomic.postgres ? '' : ' INDEXED BY "IDX_sms_messages_outbox_single"';
    const lane = (index: string, batch: string, rank: number) =>
      `SELECT "id", ${rank} AS "lane", "not_before" FROM (SELECT "id", "not_before" FROM ${T}${index} WHERE ${DUE} AND "batch_id" ${batch} ` +
      `ORDER BY "not_before" LIMIT ?${lock}) AS "lane${rank}"`;
    const due = await this.claimAmong(
      `SELECT "id" FROM (${lane(singleIndex, 'IS NULL', 0)} UNION ALL ${lane('', 'IS NOT NULL', 1)}) AS "due" ORDER BY "lane", "not_before" LIMIT ?`,
      [t, n, t, n, n],
      lease,
      t,
    );
    // RETURNING gives no order: the claimed rows are handed over singles first, each lane in due order (the
    // dispatcher takes them one by one through the rate gate).
    const claimed = this.load(due).sort(
      (a, b) => Number(a.batchId !== null) - Number(b.batchId !== null) || (a.notBefore?.getTime() ?? 0) - (b.notBefore?.getTime() ?? 0),
    );
    return [...this.load(abandoned), ...claimed];
  }

  /** Claims one row by id if it is due or abandoned (a queue job's message); null otherwise. */
  async claimById(id: string, leaseMs: number, now = new Date()): Promise<SmsMessage | null> {
    const t = this.atomic.time(now);
    const rows = await this.atomic.query(`${this.claimSet()} WHERE "id" = ? AND (${DUE} OR ${ABANDONED}) RETURNING *`, [
      this.atomic.time(new Date(now.getTime() + leaseMs)),
      t,
      t,
      t,
      id,
      t,
      t,
    ]);
    return this.load(rows)[0] ?? null;
  }

  /**
   * Extends the lease of a row this worker holds (`sending`, its attempt) to `until`; false when it no longer holds it
   * (its lease ran out and another worker claimed it: that worker's attempt is the row's now). `clearUnknownOutcome`:
   * right before it is sent again after a look-up found nothing, its unknown mark goes (see SmsDispatcher).
   */
  async renewLease(id: string, attempt: number, until: Date, now = new Date(), clearUnknownOutcome = false): Promise<boolean> {
    const clear = clearUnknownOutcome ? `, "error_code" = NULL, "error_message" = NULL` : '';
    const rows = await this.atomic.query(
      `UPDATE ${T} SET "lease_until" = ?, "updated_at" = ?${clear} WHERE "id" = ? AND "status" = '${SMS_SENDING}' AND "attempts" = ? RETURNING "id"`,
      [this.atomic.time(until), this.atomic.time(now), id, attempt],
    );
    return rows.length > 0;
  }

  private claimSet(): string {
    return (
      `UPDATE ${T} SET "status" = '${SMS_SENDING}', "lease_until" = ?, "attempts" = "attempts" + 1, ` +
      `"last_attempt_at" = ?, "first_attempt_at" = COALESCE("first_attempt_at", ?), "updated_at" = ?, ` +
      `"error_code" = CASE WHEN "status" = '${SMS_SENDING}' THEN '${LEASE_EXPIRED}' ELSE "error_code" END`
    );
  }

  /**
   * Claims the rows a SELECT of ids picks. The ids are taken first, once, in a MATERIALIZED CTE: PostgreSQL may scan a
   * `LIMIT … FOR UPDATE SKIP LOCKED` subquery inside `IN` more than once (a nested loop) and, rows being released by
   * other claimers meanwhile, claim more than the limit (more in flight than SMS_MAX_CONCURRENCY, rows waiting past
   * their lease). SQLite (3.35 and later) runs the same statement.
   */
  private claimAmong(select: string, selectParams: unknown[], lease: unknown, now: unknown): Promise<Row[]> {
    return this.atomic.query(
      `WITH "claim" AS MATERIALIZED (${select}) ${this.claimSet()} WHERE "id" IN (SELECT "id" FROM "claim") RETURNING *`,
      [...selectParams, lease, now, now, now],
    );
  }

  /** Claimed rows as entities, from what the UPDATE returned. */
  private load(rows: Row[]): SmsMessage[] {
    return rows.map((raw) => this.hydrate(this.messages, raw, new SmsMessage()));
  }

  /** A row a statement returned, as an entity (the driver's own conversions, as TypeORM reads them). */
  private hydrate<E extends object>(repository: Repository<E>, raw: Row, entity: E): E {
    const driver = repository.manager.connection.driver;
    for (const column of repository.metadata.columns)
      column.setEntityValue(entity, driver.prepareHydratedValue(raw[column.databaseName], column));
    return entity;
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
    } else if (settlement.kind === 'failed' || settlement.kind === 'skipped' || settlement.kind === 'cancelled') {
      set = `"status" = '${FINAL_STATUS[settlement.kind]}', "error_code" = ?, "error_message" = ?`;
      params = [settlement.errorCode, settlement.errorMessage.slice(0, 500)];
    } else if (settlement.kind === 'held') {
      // The claim's attempt is given back; the error of an earlier attempt (an unknown outcome) is kept.
      set =
        `"status" = '${SMS_QUEUED}', "not_before" = ?, "attempts" = "attempts" - 1, ` +
        `"last_attempt_at" = CASE WHEN "attempts" = 1 THEN NULL ELSE "last_attempt_at" END, ` +
        `"first_attempt_at" = CASE WHEN "attempts" = 1 THEN NULL ELSE "first_attempt_at" END`;
      params = [this.atomic.time(settlement.notBefore)];
    } else {
      set = `"status" = '${SMS_QUEUED}', "not_before" = ?, "error_code" = ?, "error_message" = ?`;
      params = [this.atomic.time(settlement.notBefore), settlement.errorCode, settlement.errorMessage.slice(0, 500)];
    }
    const final = settlement.kind !== 'retry' && settlement.kind !== 'held';
    const batchId = message.batchId;
    const adopted = settlement.kind === 'sent' && settlement.adopted ? settlement.sid : null;
    const update: Statement = {
      sql:
        `UPDATE ${T} SET ${set}, "lease_until" = NULL, "updated_at" = ? WHERE "id" = ? AND "status" = '${SMS_SENDING}' AND "attempts" = ?` +
        (adopted ? ` AND NOT EXISTS (SELECT 1 FROM ${T} AS "o" WHERE "o"."provider_sid" = ?)` : '') +
        ` RETURNING "id"`,
      params: [...params, t, message.id, attempt, ...(adopted ? [adopted] : [])],
    };
    // Two adoptions of one SID are taken in turn (PostgreSQL: a transaction lock on the SID; SQLite writes one at a time):
    // the second one's NOT EXISTS sees the first's committed row.
    const adoptionLock: Statement | null =
      adopted && this.atomic.postgres ? { sql: `SELECT pg_advisory_xact_lock(hashtext(?))`, params: [`sms-sid:${adopted}`] } : null;
    const sidHolder: Statement | null = adopted
      ? { sql: `SELECT "id" FROM ${T} WHERE "provider_sid" = ? LIMIT 1`, params: [adopted] }
      : null;
    const finish = this.finishStatements(batchId, t);
    const status = settledStatus(settlement);
    // The event of a final state, in the same transaction: stored state and report cannot diverge.
    const errorCode = settlement.kind === 'failed' || settlement.kind === 'skipped' ? settlement.errorCode : null;
    const event = final ? this.updatedEventStatement([message], status, now, errorCode) : null;
    // The message as it ends (what the caller sees once it is stored), for its journal entry.
    const ended = final
      ? this.journalEntry(
          Object.assign(new SmsMessage(), message, {
            status,
            providerSid: settlement.kind === 'sent' ? settlement.sid : null,
            errorCode: settlement.kind === 'sent' ? null : settlement.errorCode,
            errorMessage: settlement.kind === 'sent' ? null : settlement.errorMessage,
          }),
        )
      : null;
    if (!event && !batchId) {
      // Single and notification sends no event waits for: their answers stored in the same turn share one write.
      if (settlement.kind === 'sent' && !adopted)
        return { applied: await this.sent.store(message.id, attempt, settlement, t, ended ?? undefined) };
      // One statement: no transaction needed.
      if (!ended) return { applied: (await this.atomic.query(update.sql, update.params)).length > 0 };
    }
    const journal = ended ? insertStatement(this.auditLogs, [ended]) : null;
    const journalEnd = (row: Row) => this.journalBatchEnd(row);
    // A settlement of a batch's message takes the batch row first, then its message row, as the cancellations do (the
    // batch row, then the messages waiting in the queue). Not the other way round: a cancellation's UPDATE reads the
    // batch's messages as they were when it began, so a message claimed and then settled while it ran is one it must
    // wait for; a settlement holding that message while waiting for the batch row closed a cycle (PostgreSQL answered
    // "deadlock detected": the cancellation a 503, or the settlement lost). The batch's settlements run one after another
    // on its row. A batch cancelled while this attempt was in flight: its message does not go back to the queue. The
    // batch's status is read under its lock: a cancellation committed before is seen; one under way is waited for.
    const lockBatch = this.lockBatch(batchId);
    const cancelQueued: Statement = {
      sql: `UPDATE ${T} SET "status" = '${SMS_CANCELLED}', "updated_at" = ? WHERE "id" = ? AND ${CANCELLABLE} RETURNING "id"`,
      params: [t, message.id],
    };
    // Queued again with its outcome unknown (this attempt timed out, or its look-up failed): it may be at Twilio,
    // so it is looked up once more before it ends, sent or cancelled (see OUTCOME_UNKNOWN).
    const requestCancel = this.requestCancelStatement('"id" = ?', message.id, t);
    const cancelledEvent = !final && batchId ? this.updatedEventStatement([message], SMS_CANCELLED, now) : null;
    const result = await this.atomic.run(function* (): Work<SettleResult> {
      if (!final && batchId) {
        const [batch] = yield lockBatch;
        const changed = yield update;
        if (!changed.length) return { applied: false };
        if (batch?.status !== 'cancelled') return { applied: true };
        const cancelled = yield cancelQueued;
        if (!cancelled.length) {
          yield requestCancel;
          return { applied: true };
        }
        if (cancelledEvent) yield cancelledEvent;
        const [left] = yield finish.decrement(1);
        const [finished] = Number(left?.remaining) > 0 ? [] : yield finish.end;
        if (finished) yield* journalEnd(finished);
        return { applied: true, cancelled: true, published: !!cancelledEvent, ...(finished ? { finishedBatchId: batchId } : {}) };
      }
      if (batchId) yield lockBatch;
      if (adoptionLock) yield adoptionLock;
      const changed = yield update;
      if (!changed.length) {
        if (!sidHolder) return { applied: false };
        const [holder] = yield sidHolder;
        return { applied: false, sidTaken: !!holder };
      }
      if (event) yield event;
      if (journal) yield journal;
      const published = !!event;
      if (!final || !batchId) return { applied: true, published };
      const [left] = yield finish.decrement(1);
      if (Number(left?.remaining) > 0) return { applied: true, published };
      const [finished] = yield finish.end;
      if (!finished) return { applied: true, published };
      yield* journalEnd(finished);
      return { applied: true, published, finishedBatchId: batchId };
    });
    if (result.published) this.domainEvents.wake();
    return result;
  }

  /**
   * `sms.message.updated` for the messages among `messages` that report durably (see reportedDurably),
   * as outbox rows to write in the transaction that stores their final state; null when none does.
   */
  private updatedEventStatement(
    messages: (Pick<SmsMessage, 'id' | 'relatedType' | 'relatedId' | 'templateType'> & { relatedVersion?: string | null })[],
    status: string,
    now: Date,
    errorCode?: string | null,
  ): Statement | null {
    const reported = messages.filter(reportedDurably);
    if (!reported.length) return null;
    return this.domainEvents.insertStatement(
      SMS_EVENTS.messageUpdated,
      reported.map((m) => messageUpdatedEvent(m, status, now, errorCode)),
      now,
    );
  }

  /**
   * Asks the waiting rows matched by `where` whose last attempt's outcome is unknown to stop (`cancel_requested_at`,
   * see OUTCOME_UNKNOWN); returns the ids it marked.
   */
  private requestCancelStatement(where: string, param: string, t: string): Statement {
    return {
      sql: `UPDATE ${T} SET "cancel_requested_at" = ?, "updated_at" = ? WHERE ${where} AND ${CANCEL_TO_REQUEST} RETURNING "id"`,
      params: [t, t, param],
    };
  }

  /** Locks a batch's row (PostgreSQL; SQLite's transactions run one at a time) and reads its status. */
  private lockBatch(batchId: string | null): Statement {
    return { sql: `SELECT "status" FROM ${B} WHERE "id" = ?${this.atomic.postgres ? ' FOR UPDATE' : ''}`, params: [batchId] };
  }

  private finishStatements(batchId: string | null, t: string) {
    return {
      decrement: (n: number): Statement => ({
        sql: `UPDATE ${B} SET "remaining" = "remaining" - ? WHERE "id" = ? RETURNING "remaining"`,
        params: [n, batchId],
      }),
      // A batch whose every message was cancelled (the batch, or each of its messages one by one) ends
      // `cancelled`, at its last cancellation when the batch itself was not; any other end is `completed`.
      // SET reads the row as it was: the CASEs see the status before this UPDATE.
      end: {
        sql:
          `UPDATE ${B} SET "finished_at" = ?, ` +
          `"status" = CASE WHEN "status" = 'cancelled' OR ${ALL_CANCELLED} THEN 'cancelled' ELSE 'completed' END, ` +
          `"cancelled_at" = CASE WHEN "status" = 'cancelled' THEN "cancelled_at" WHEN ${ALL_CANCELLED} THEN ? ELSE NULL END ` +
          `WHERE "id" = ? AND "finished_at" IS NULL AND "remaining" <= 0 RETURNING *`,
        params: [t, batchId, batchId, t, batchId],
      } as Statement,
    };
  }

  /**
   * Inside the transaction that ended a batch (`ended`: its row as the ending UPDATE returned it): reads its
   * messages' counts and inserts the journal entry of its end. Only the transaction whose conditional UPDATE
   * set `finished_at` gets here, so the entry is written once, committed or rolled back with the end.
   */
  private *journalBatchEnd(ended: Row): Work<void> {
    const batch = this.hydrate(this.batches, ended, new SmsBatch());
    const { counts, providerStatuses } = tallyBatchRows((yield batchCountsStatement(batch.id)) as unknown as BatchCountRow[]);
    const entry = Object.assign(new AuditLog(), {
      id: randomUUID(),
      ...this.audit.toRow(batchFinishedEntry(batch, counts, providerStatuses)),
    });
    yield insertStatement(this.auditLogs, [entry]);
  }

  /** A batch's status (`running`, `completed`, `cancelled`), read without a lock; null when there is no such batch. */
  async batchStatus(batchId: string): Promise<string | null> {
    const batch = await this.batches.findOne({ select: { id: true, status: true }, where: { id: batchId } });
    return batch?.status ?? null;
  }

  /** Marks the batch started (first claim of one of its messages). */
  async markBatchStarted(batchId: string, now = new Date()): Promise<void> {
    await this.atomic.query(`UPDATE ${B} SET "started_at" = ? WHERE "id" = ? AND "started_at" IS NULL`, [this.atomic.time(now), batchId]);
  }

  /**
   * Cancels one waiting message. Returns whether it was (not when it already left) and the batch it ended (whose
   * end and journal entry were committed with the cancellation).
   */
  async cancelMessage(
    message: SmsMessage,
    now = new Date(),
    cancellation?: AuditLog,
  ): Promise<{ cancelled: boolean; requested?: boolean; finishedBatchId?: string; published?: boolean }> {
    const t = this.atomic.time(now);
    const finish = this.finishStatements(message.batchId, t);
    const batchId = message.batchId;
    const event = this.updatedEventStatement([message], SMS_CANCELLED, now);
    // The send's own final entry and who cancelled it (`sms_cancelled`): one INSERT, committed with the cancellation.
    const ended = this.journalEntry(Object.assign(new SmsMessage(), message, { status: SMS_CANCELLED }));
    const entries = [ended, cancellation].filter((entry): entry is AuditLog => !!entry);
    const journal = entries.length ? insertStatement(this.auditLogs, entries) : null;
    const journalEnd = (row: Row) => this.journalBatchEnd(row);
    const lockBatch = this.lockBatch(batchId);
    const requestCancel = this.requestCancelStatement('"id" = ?', message.id, t);
    const cancellationEntry = cancellation ? insertStatement(this.auditLogs, [cancellation]) : null;
    const result = await this.atomic.run(function* () {
      // The batch row first, as cancelBatch: two cancellations of one batch never wait on each other in a cycle (see settle).
      if (batchId) yield lockBatch;
      const changed = yield {
        sql: `UPDATE ${T} SET "status" = '${SMS_CANCELLED}', "updated_at" = ? WHERE "id" = ? AND ${CANCELLABLE} RETURNING "id"`,
        params: [t, message.id],
      };
      if (!changed.length) {
        // Its last attempt's outcome is unknown: asked to stop, looked up once more (journaled now: who asked).
        const requested = yield requestCancel;
        if (!requested.length) return { cancelled: false };
        if (cancellationEntry) yield cancellationEntry;
        return { cancelled: false, requested: true };
      }
      if (event) yield event;
      if (journal) yield journal;
      if (!batchId) return { cancelled: true, published: !!event };
      yield finish.decrement(1);
      const [finished] = yield finish.end;
      if (finished) yield* journalEnd(finished);
      return { cancelled: true, published: !!event, finishedBatchId: finished ? batchId : undefined };
    });
    if (result.published) this.domainEvents.wake();
    return result;
  }

  /**
   * Cancels every waiting message of a batch and marks it cancelled; returns the cancelled messages (with
   * whether each one's `sms.message.updated` was written to the outbox in the same transaction) and whether
   * the batch ended (nothing in flight: its end and journal entry were committed in the same transaction).
   */
  async cancelBatch(
    batchId: string,
    now = new Date(),
    cancellation?: (cancelled: number, lookingUp: number) => AuditLog,
  ): Promise<{ applied: boolean; cancelled: CancelledMessage[]; lookingUp: number; finished: boolean }> {
    const t = this.atomic.time(now);
    const finish = this.finishStatements(batchId, t);
    const events = (messages: CancelledMessage[]): Statement[] => {
      const statements: Statement[] = [];
      for (let i = 0; i < messages.length; i += INSERT_CHUNK) {
        const statement = this.updatedEventStatement(messages.slice(i, i + INSERT_CHUNK), SMS_CANCELLED, now);
        if (statement) statements.push(statement);
      }
      return statements;
    };
    const journalEnd = (row: Row) => this.journalBatchEnd(row);
    const journal = (entry: AuditLog) => insertStatement(this.auditLogs, [entry]);
    const requestCancel = this.requestCancelStatement('"batch_id" = ?', batchId, t);
    const result = await this.atomic.run(function* () {
      const running = yield {
        sql: `UPDATE ${B} SET "status" = 'cancelled', "cancelled_at" = ? WHERE "id" = ? AND "status" = 'running' RETURNING "id"`,
        params: [t, batchId],
      };
      // No longer running (cancelled or ended by another request since it was read): nothing to do here.
      if (!running.length) return { applied: false, cancelled: [], lookingUp: 0, finished: false };
      const rows = yield {
        sql:
          `UPDATE ${T} SET "status" = '${SMS_CANCELLED}', "updated_at" = ? WHERE "batch_id" = ? AND ${CANCELLABLE} ` +
          `RETURNING "id", "related_type", "related_id", "template_type", "category"`,
        params: [t, batchId],
      };
      const cancelled: CancelledMessage[] = rows.map((r) => {
        const relatedType = (r.related_type as string | null) ?? null;
        return {
          id: String(r.id),
          relatedType,
          relatedId: (r.related_id as string | null) ?? null,
          templateType: (r.template_type as string | null) ?? null,
          category: ((r.category as string | null) ?? 'transactional') as SmsCategory,
          published: reportedDurably({ relatedType }),
        };
      });
      for (const statement of events(cancelled)) yield statement;
      // Those whose last attempt's outcome is unknown are asked to stop: each is looked up once more, then ends
      // sent or cancelled, and the batch ends with the last of them (see OUTCOME_UNKNOWN).
      const requested = yield requestCancel;
      // Who cancelled the batch (`sms_cancelled`): the request that moved it off `running`, so once.
      if (cancellation) yield journal(cancellation(rows.length, requested.length));
      if (rows.length) yield finish.decrement(rows.length);
      const [finished] = yield finish.end;
      if (finished) yield* journalEnd(finished);
      return { applied: true, cancelled, lookingUp: requested.length, finished: !!finished };
    });
    if (result.cancelled.some((m) => m.published)) this.domainEvents.wake();
    return result;
  }

  /**
   * A message stored already final (`skipped`: the number opted out before it was queued), in one
   * transaction with its journal entry and, tied to a record, its
   * `sms.message.updated`. Returns whether the event was written.
   */
  async insertFinal(row: SmsMessage, now = new Date()): Promise<boolean> {
    const event = this.updatedEventStatement([row], row.status, now, row.errorCode);
    const journal = insertStatement(this.auditLogs, [this.journalEntry(row)]);
    const message = this.insertStatement(this.messages, [row]);
    await this.atomic.run(function* () {
      yield message;
      if (event) yield event;
      yield journal;
    });
    if (!event) return false;
    this.domainEvents.wake();
    return true;
  }

  /** Provider SIDs already stored, among `sids` (a look-up never adopts another row's message). */
  async ownedSids(sids: string[]): Promise<Set<string>> {
    if (!sids.length) return new Set();
    const rows = await this.messages.find({ select: { providerSid: true }, where: { providerSid: In(sids) } });
    return new Set(rows.map((r) => r.providerSid!));
  }

  /**
   * Whether another row with this number and text is being sent right now (claimed, its lease running, and not for a
   * look-up of its own: no unknown outcome on it): a message found at Twilio for `message` may be that row's, whose
   * answer has not come back yet (a slow Twilio); adopting it would give both rows one SID and never send this one
   * (SmsDispatcher waits until that row is stored). Rows all looking up do not wait for each other (they would never
   * end): their adoptions are taken in turn (settle's `sidTaken`).
   */
  async alikeInFlight(message: Pick<SmsMessage, 'id' | 'to' | 'body'>, now = new Date()): Promise<boolean> {
    const unknown = UNKNOWN_OUTCOME_CODES.map((code) => `'${code}'`).join(', ');
    const rows = await this.atomic.query(
      `SELECT "id" FROM ${T} WHERE "to" = ? AND "id" <> ? AND "status" = '${SMS_SENDING}' AND "lease_until" > ? ` +
        `AND ("error_code" IS NULL OR "error_code" NOT IN (${unknown})) AND "body" = ? LIMIT 1`,
      [message.to, message.id, this.atomic.time(now), message.body],
    );
    return rows.length > 0;
  }

  /** Which of `ids` are cancelled (the BullMQ queue removes their jobs, queued while they were being cancelled). */
  async cancelledAmong(ids: readonly string[]): Promise<string[]> {
    if (!ids.length) return [];
    const rows = await this.messages.find({ select: { id: true }, where: { id: In([...ids]), status: SMS_CANCELLED } });
    return rows.map((r) => r.id);
  }

  /**
   * Ids of due or abandoned rows, at most `limit` (the BullMQ sweep hands them to the queue again; future ones have their
   * delayed job): abandoned rows first, then due rows outside a batch, then a batch's, each in due order, as claimDue
   * takes them. A batch's rows wait in the table while their jobs wait in Redis: read first, a backlog of them would
   * fill every sweep, and a confirmation whose job was lost would wait until fewer than `limit` were left before it.
   */
  async dueIds(limit: number, now = new Date()): Promise<QueuedMessage[]> {
    const params = { queued: SMS_QUEUED, sending: SMS_SENDING, t: this.atomic.time(now) };
    const dueRow = `m.status = :queued AND m.providerSid IS NULL AND m.notBefore <= :t`; // DUE, as claimDue and claimById read it
    const lanes = [`m.status = :sending AND m.leaseUntil < :t`, `${dueRow} AND m.batchId IS NULL`, `${dueRow} AND m.batchId IS NOT NULL`];
    const rows: SmsMessage[] = [];
    for (const where of lanes) {
      if (rows.length >= limit) break;
      rows.push(
        ...(await this.messages
          .createQueryBuilder('m')
          .select(['m.id', 'm.notBefore', 'm.batchId'])
          .where(where, params)
          .orderBy('m.notBefore', 'ASC')
          .limit(limit - rows.length)
          .getMany()),
      );
    }
    return rows.map((r) => ({ id: r.id, notBefore: r.notBefore, bulk: r.batchId !== null }));
  }
}
