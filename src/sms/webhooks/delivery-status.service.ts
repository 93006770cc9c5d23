import { BeforeApplicationShutdown, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import { runTransaction } from '../../database/transactions.js';
import { DataSource, type QueryRunner } from 'typeorm';
import { BatchLoader } from '../../common/batch-loader.js';
import { Clock } from '../../common/clock.js';
import { MetricsService } from '../../metrics/metrics.service.js';
import { SqlParams, sqlTimeText } from '../../database/sql.js';
import { OptOutService } from '../opt-outs/opt-out.service.js';
import { PURGED } from '../sms-message.entity.js';
import { OptOutSource } from '../opt-outs/sms-opt-out.entity.js';
import { explainErrorCode, type Lang } from '../failure-explanations.js';
import { FINAL_STATUSES, isTwilioStatus, TWILIO_STATUSES, statusRank, statusRankSql } from './message-status.js';
import { SmsStatusEvent } from './sms-status-event.entity.js';
import { formField, invalidField, MESSAGE_SID } from './webhook-form.js';

/** How often each instance looks for stranded status callbacks (see DeliveryStatusService.adoptStranded). */
const STRANDED_SWEEP_MS = 5 * 60_000;
/** SIDs read at a time by a sweep. */
const STRANDED_CHUNK = 100;
/** How far back the periodic sweeps look (the one at start looks at every stranded callback). */
const STRANDED_RECENT_MS = 3_600_000;

/** Twilio's "attempt to send to unsubscribed recipient". */
export const TWILIO_UNSUBSCRIBED = '21610';

export interface StatusCallback {
  sid: string;
  status: string;
  errorCode: string | null;
  /** Twilio's `I-Twilio-Idempotency-Token` header: the same callback delivered again carries the same one. */
  idempotencyToken: string | null;
}

export type StatusOutcome =
  /** The message moved to this status. */
  | 'applied'
  /** Kept in the history, but the message already had this status or a later one. */
  | 'stale'
  /** The same callback again (same token, or same SID and status): nothing changed. */
  | 'duplicate'
  /** No message of ours has this SID: kept in the history under the SID only. */
  | 'unknown_message';

/** What recording a callback did; `to` when the caller still has to act on a 21610, `kind` and `category` when it moved the message. */
type Recorded = { outcome: StatusOutcome; messageId: string | null; status: string | null; to?: string; kind?: string; category?: string };

export interface StatusHistoryEntry {
  status: string;
  errorCode: string | null;
  errorExplanation: string | null;
  /** Whether it moved the message (false for a late or repeated status). */
  applied: boolean;
  at: Date;
}

/**
 * Applies Twilio's status callbacks to sms_messages. Each callback is first recorded in
 * sms_status_events, whose unique keys (SID + status, idempotency token) make a repeated callback a
 * no-op; the message then moves only with a conditional UPDATE whose WHERE compares the ranks in SQL,
 * so concurrent or out-of-order callbacks can never move it backwards. Both in one transaction.
 */
@Injectable()
export class DeliveryStatusService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('DeliveryStatus');
  private sweeper: NodeJS.Timeout | null = null;
  /** The sweep under way (see adoptStranded), awaited at shutdown before the database closes. */
  private sweeping: Promise<unknown> | null = null;
  private readonly postgres: boolean;
  private lastReceivedAt = 0;
  /** SIDs that have callbacks waiting for their message (sms_status_events with no message_id yet). */
  private readonly earlyCallbacks = new BatchLoader<string, true>(async (sids) => {
    const found = new Map<string, true>();
    for (let i = 0; i < sids.length; i += 500) {
      const params = new SqlParams(this.postgres);
      const list = sids.slice(i, i + 500).map((sid) => params.add(sid));
      const rows = await this.dataSource.query<{ provider_sid: string }[]>(
        `SELECT DISTINCT "provider_sid" FROM "sms_status_events" WHERE "provider_sid" IN (${list.join(', ')}) AND "message_id" IS NULL`,
        params.values,
      );
      for (const row of rows) found.set(row.provider_sid, true);
    }
    return found;
  });

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly optOuts: OptOutService,
    private readonly metrics: MetricsService,
  ) {
    this.postgres = dataSource.driver.options.type === 'postgres';
  }

  /** Reads and checks a status callback's form (400 naming the field otherwise). */
  parse(form: unknown, idempotencyToken: string | undefined): StatusCallback {
    const sid = formField(form, 'MessageSid', { required: true, pattern: MESSAGE_SID });
    // Twilio sends both MessageStatus and the older SmsStatus; MessageStatus is the one documented.
    const status = formField(form, 'MessageStatus', { max: 24 }) ?? formField(form, 'SmsStatus', { max: 24 });
    if (!status) throw invalidField('MessageStatus', 'is required');
    if (!isTwilioStatus(status)) throw invalidField('MessageStatus', `must be one of ${TWILIO_STATUSES.join(', ')}`);
    const errorCode = formField(form, 'ErrorCode', { pattern: /^\d{1,10}$/ });
    const token = idempotencyToken?.trim() ? idempotencyToken.trim().slice(0, 128) : null;
    return { sid, status, errorCode: errorCode && errorCode !== '0' ? errorCode : null, idempotencyToken: token };
  }

  /**
   * Stranded callbacks (see adoptStranded) are looked for at start, all of them (after a crash, however long ago), then
   * every STRANDED_SWEEP_MS among those of the last hour (an adoption that failed meanwhile), so that callbacks about
   * other systems' messages, which never join one, are not read again and again.
   */
  onApplicationBootstrap(): void {
    let since: Date | undefined;
    const sweep = () => {
      if (this.sweeping) return;
      const started = this.clock.now().getTime();
      // The bound moves on only after a pass that went through: one that failed (the database away) is made again
      // from the same point, the first one (all of them) included.
      this.sweeping = this.adoptStranded(since)
        .then(() => (since = new Date(started - STRANDED_RECENT_MS)))
        .catch((error: unknown) =>
          this.logger.warn(`Adopting stranded status callbacks failed: ${error instanceof Error ? error.message : String(error)}`),
        )
        .finally(() => (this.sweeping = null));
    };
    sweep();
    this.sweeper = setInterval(sweep, STRANDED_SWEEP_MS);
    this.sweeper.unref();
  }

  async beforeApplicationShutdown(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
    await this.sweeping;
  }

  /**
   * Callbacks kept under their SID alone although a message now holds that SID: its send stored the SID, then the
   * process died (or the adoption failed) before adoptEarlyCallbacks ran, and Twilio does not call back again about a
   * status it got a 200 for. Each is adopted as the send would have (the furthest moves the message; a 21610 opts the
   * number out); at most `limit` SIDs a pass. Callbacks about messages that are not ours (another system on the same
   * Twilio account) join nothing and stay as they are, until retention purges them.
   */
  async adoptStranded(receivedSince?: Date): Promise<number> {
    let adopted = 0;
    // In reads of STRANDED_CHUNK SIDs: each adoption links its callbacks, so the next read no longer finds them.
    for (;;) {
      const params = new SqlParams(this.postgres);
      const recent = receivedSince ? ` AND e."received_at" >= ${params.time(receivedSince)}` : '';
      const rows = await this.dataSource.query<{ message_id: string; sid: string }[]>(
        `SELECT DISTINCT m."id" AS "message_id", e."provider_sid" AS "sid" FROM "sms_status_events" e ` +
          `JOIN "sms_messages" m ON m."provider_sid" = e."provider_sid" WHERE e."message_id" IS NULL${recent} ` +
          `LIMIT ${params.add(STRANDED_CHUNK)}`,
        params.values,
      );
      let linked = 0;
      for (const row of rows) linked += (await this.adopt(row.message_id, row.sid)).events.length;
      adopted += linked;
      // Fewer than a chunk: none left. None linked (another instance took them meanwhile): stop rather than read again.
      if (rows.length < STRANDED_CHUNK || linked === 0) break;
    }
    if (adopted) this.logger.log(`Adopted ${adopted} status callback(s) left under their SID alone (a send stopped before it could)`);
    return adopted;
  }

  async apply(callback: StatusCallback): Promise<{ outcome: StatusOutcome; messageId: string | null; status: string | null }> {
    const result = await this.record(callback);
    // sms_messages_total: a message moved to a delivery state (delivered, undelivered…).
    if (result.outcome === 'applied' && result.kind)
      this.metrics.smsStateChanged(result.kind, result.category ?? 'transactional', callback.status);
    // Twilio refused the number as unsubscribed (21610): it is on our list too from now on.
    if (result.outcome !== 'duplicate' && callback.errorCode === TWILIO_UNSUBSCRIBED)
      await this.unsubscribed(result.to ?? null, result.messageId);
    return { outcome: result.outcome, messageId: result.messageId, status: result.status };
  }

  /** Reception times strictly increase within this instance, so the history keeps the order callbacks came in. */
  private receivedAt(): Date {
    const now = this.clock.now().getTime();
    this.lastReceivedAt = Math.max(now, this.lastReceivedAt + 1);
    return new Date(this.lastReceivedAt);
  }

  private async record(callback: StatusCallback): Promise<Recorded> {
    const now = this.receivedAt();
    const recorded = await runTransaction(this.dataSource, async (manager): Promise<Recorded & { eventId?: string }> => {
      const runner = manager.queryRunner!;
      const find = new SqlParams(this.postgres);
      const found = await runner.query(
        `SELECT "id", "status", "to", "kind", "category" FROM "sms_messages" WHERE "provider_sid" = ${find.add(callback.sid)}`,
        find.values,
        true,
      );
      const message =
        (found.records?.[0] as { id: string; status: string; to: string; kind: string; category: string } | undefined) ?? null;

      const eventId = randomUUID();
      const insert = new SqlParams(this.postgres);
      const values = [
        insert.add(eventId),
        insert.add(message?.id ?? null),
        insert.add(callback.sid),
        insert.add(callback.status),
        insert.add(callback.errorCode),
        insert.add(callback.idempotencyToken),
        insert.add(false),
        insert.time(now),
      ];
      const inserted = await runner.query(
        `INSERT INTO "sms_status_events" ("id", "message_id", "provider_sid", "status", "error_code", "idempotency_token", "applied", "received_at") ` +
          `VALUES (${values.join(', ')}) ON CONFLICT DO NOTHING RETURNING "id"`,
        insert.values,
        true,
      );
      if (!inserted.records?.length)
        return { outcome: 'duplicate' as const, messageId: message?.id ?? null, status: message?.status ?? null };
      if (!message) return { outcome: 'unknown_message' as const, messageId: null, status: null, eventId };

      const moved = await this.moveForward(runner, message.id, eventId, callback.status, callback.errorCode, now);
      return moved
        ? {
            outcome: 'applied' as const,
            messageId: message.id,
            status: callback.status,
            to: message.to,
            kind: message.kind,
            category: message.category,
          }
        : { outcome: 'stale' as const, messageId: message.id, status: message.status, to: message.to };
    });
    // A repeat of a callback kept under its SID alone whose adoption was lost (an error, or the process died, after
    // its commit and before its look-up, the send having looked before it): Twilio's retry adopts it now (a shared
    // read of the SIDs with waiting callbacks; almost always none).
    if (recorded.outcome === 'duplicate' && recorded.messageId) await this.adoptEarlyCallbacks(recorded.messageId, callback.sid);
    if (!recorded.eventId) return recorded;
    return this.joinStoredMeanwhile(callback, recorded.eventId);
  }

  /**
   * A callback kept under its SID alone, now committed, looks the SID up again. Its send may have stored the SID
   * and looked for early callbacks (adoptEarlyCallbacks) while this callback's transaction was open (PostgreSQL):
   * that look-up could not see the uncommitted event, so adopted nothing. Of the two reads, this one and the
   * send's, the later sees the other's commit, so one of them always adopts the event, whatever the instances
   * (the send's path gains no statement: this runs only for a callback that found no message).
   * The answer is this callback's: `applied` or `stale` when this look-up adopted it, else `unknown_message`
   * (no message yet, or the send adopted it meanwhile).
   */
  private async joinStoredMeanwhile(callback: StatusCallback, eventId: string): Promise<Recorded> {
    const unknown = { outcome: 'unknown_message' as const, messageId: null, status: null };
    const find = new SqlParams(this.postgres);
    const found = await this.dataSource.query<{ id: string; status: string; to: string; kind: string; category: string }[]>(
      `SELECT "id", "status", "to", "kind", "category" FROM "sms_messages" WHERE "provider_sid" = ${find.add(callback.sid)}`,
      find.values,
    );
    const message = found[0];
    if (!message) {
      this.logger.warn(`Status callback for an unknown message SID (${callback.status}); kept in the history`);
      return unknown;
    }
    const { events, appliedEventId } = await this.adopt(message.id, callback.sid);
    if (!events.some((e) => e.id === eventId)) return unknown;
    if (appliedEventId === eventId)
      // No `to`: adopt() has already put a 21610's number on the opt-out list.
      return { outcome: 'applied', messageId: message.id, status: callback.status, kind: message.kind, category: message.category };
    const status = events.find((e) => e.id === appliedEventId)?.status ?? message.status;
    return { outcome: 'stale', messageId: message.id, status };
  }

  /**
   * Callbacks that came before their message had its SID stored (Twilio can call back before the send's
   * answer is written) are kept under the SID alone; once the SID is stored, they join the message and
   * the furthest of them moves it forward, by the same conditional UPDATE.
   */
  async adoptEarlyCallbacks(messageId: string, sid: string): Promise<number> {
    // Almost always none: a read shared by the sends of one event-loop turn, instead of a write transaction
    // per send. It sees what adopt()'s UPDATE would (events committed before it), so nothing is missed that
    // the UPDATE alone would have caught; an event committed after it is adopted by its own callback
    // (joinStoredMeanwhile).
    if (!(await this.earlyCallbacks.load(sid))) return 0;
    return (await this.adopt(messageId, sid)).events.length;
  }

  /**
   * Joins the events kept under `sid` alone to the message, moves it by the furthest, and puts the number on the
   * opt-out list if one of them is a 21610. An event is claimed once: of two concurrent adoptions (the send's and a
   * callback's, see joinStoredMeanwhile), the second's UPDATE waits for the first and finds it no longer unclaimed.
   */
  private async adopt(messageId: string, sid: string): Promise<{ events: AdoptedEvent[]; appliedEventId: string | null }> {
    const now = this.clock.now();
    const adopted = await runTransaction(this.dataSource, async (manager) => {
      const runner = manager.queryRunner!;
      const claim = new SqlParams(this.postgres);
      const rows = await runner.query(
        `UPDATE "sms_status_events" SET "message_id" = ${claim.add(messageId)} WHERE "provider_sid" = ${claim.add(sid)} AND "message_id" IS NULL ` +
          `RETURNING "id", "status", "error_code", "received_at"`,
        claim.values,
        true,
      );
      const events = (rows.records ?? []) as AdoptedEvent[];
      if (!events.length) return { events, appliedEventId: null };
      const furthest = furthestEvent(events);
      const moved = await this.moveForward(runner, messageId, furthest.id, furthest.status, furthest.error_code, now);
      return { events, appliedEventId: moved ? furthest.id : null };
    });
    if (adopted.events.some((e) => e.error_code === TWILIO_UNSUBSCRIBED)) {
      const message = await this.dataSource.query<{ to: string }[]>(
        `SELECT "to" FROM "sms_messages" WHERE "id" = ${this.postgres ? '$1' : '?'}`,
        [messageId],
      );
      await this.unsubscribed(message[0]?.to ?? null, messageId);
    }
    return adopted;
  }

  /**
   * Puts the number of a message Twilio called back about with 21610 on the opt-out list. A message whose
   * number retention has purged (RETENTION_DAYS) no longer says whom it went to: nothing is added (the list
   * holds phone numbers only), and a line says so.
   */
  private async unsubscribed(to: string | null, messageId: string | null): Promise<void> {
    if (!to) return;
    if (to === PURGED) {
      this.logger.warn(
        `SMS ${messageId}: Twilio ${TWILIO_UNSUBSCRIBED} for a message whose number was purged; nothing put on the opt-out list`,
      );
      return;
    }
    await this.optOuts.optOut(to, { source: OptOutSource.Twilio21610, reason: `Twilio ${TWILIO_UNSUBSCRIBED} (status callback)` });
  }

  /** The conditional UPDATE: the message takes `status` only if it ranks higher than its current one. */
  private async moveForward(
    runner: QueryRunner,
    messageId: string,
    eventId: string,
    status: string,
    errorCode: string | null,
    now: Date,
  ): Promise<boolean> {
    const update = new SqlParams(this.postgres);
    const set =
      `"status" = ${update.add(status)}, ` +
      // A final status carries its error code (or clears one); earlier ones leave it as it is.
      (FINAL_STATUSES.has(status) ? `"error_code" = ${update.add(errorCode)}, ` : '') +
      `"updated_at" = ${update.time(now)}`;
    const updated = await runner.query(
      `UPDATE "sms_messages" SET ${set} WHERE "id" = ${update.add(messageId)} AND ${statusRankSql('"status"')} < ${update.add(statusRank(status))} RETURNING "id"`,
      update.values,
      true,
    );
    if (!updated.records?.length) return false;
    const mark = new SqlParams(this.postgres);
    await runner.query(`UPDATE "sms_status_events" SET "applied" = ${mark.add(true)} WHERE "id" = ${mark.add(eventId)}`, mark.values);
    return true;
  }

  /** The statuses Twilio reported for a message, in the order they came, explained in `lang`. */
  async history(messageId: string, lang: Lang): Promise<StatusHistoryEntry[]> {
    const events = await this.dataSource
      .getRepository(SmsStatusEvent)
      .find({ where: { messageId }, order: { receivedAt: 'ASC', id: 'ASC' } });
    return events.map((e) => ({
      status: e.status,
      errorCode: e.errorCode,
      errorExplanation: explainErrorCode(e.errorCode, lang),
      applied: e.applied,
      at: e.receivedAt,
    }));
  }
}

type AdoptedEvent = { id: string; status: string; error_code: string | null; received_at: Date | string };

/**
 * Of callbacks adopted together, the one that moves the message: the furthest, and of equally far ones (two final
 * answers, `delivered` and `undelivered`) the first received, as the live path keeps the first final answer. The
 * UPDATE … RETURNING that claimed them gives them in no particular order.
 */
export function furthestEvent<E extends { status: string; received_at: Date | string }>(events: readonly E[]): E {
  const at = (e: E) => sqlTimeText(e.received_at);
  return events.reduce((a, b) => {
    const rank = statusRank(b.status) - statusRank(a.status);
    return rank > 0 || (rank === 0 && at(b) < at(a)) ? b : a;
  });
}
