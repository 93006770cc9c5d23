import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { Clock } from '../../common/clock.js';
import { SqlParams } from '../../database/sql.js';
import { OptOutService } from '../opt-outs/opt-out.service.js';
import { OptOutSource } from '../opt-outs/sms-opt-out.entity.js';
import { explainErrorCode, type Lang } from '../sms-errors.js';
import { FINAL_STATUSES, isTwilioStatus, TWILIO_STATUSES, statusRank, statusRankSql } from './message-status.js';
import { SmsStatusEvent } from './sms-status-event.entity.js';
import { formField, invalidField, MESSAGE_SID } from './webhook-form.js';

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
export class DeliveryStatusService {
  private readonly logger = new Logger('DeliveryStatus');
  private readonly postgres: boolean;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly optOuts: OptOutService,
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

  async apply(callback: StatusCallback): Promise<{ outcome: StatusOutcome; messageId: string | null; status: string | null }> {
    const result = await this.record(callback);
    // Twilio refused the number as unsubscribed (21610): it is on our list too from now on.
    if (result.outcome !== 'duplicate' && result.to && callback.errorCode === TWILIO_UNSUBSCRIBED)
      await this.optOuts.optOut(result.to, { source: OptOutSource.Twilio21610, reason: `Twilio ${TWILIO_UNSUBSCRIBED} (status callback)` });
    return { outcome: result.outcome, messageId: result.messageId, status: result.status };
  }

  private record(
    callback: StatusCallback,
  ): Promise<{ outcome: StatusOutcome; messageId: string | null; status: string | null; to?: string }> {
    const now = this.clock.now();
    return this.dataSource.transaction(async (manager) => {
      const runner = manager.queryRunner!;
      const find = new SqlParams(this.postgres);
      const found = await runner.query(
        `SELECT "id", "status", "to" FROM "sms_messages" WHERE "provider_sid" = ${find.add(callback.sid)}`,
        find.values,
        true,
      );
      const message = (found.records?.[0] as { id: string; status: string; to: string } | undefined) ?? null;

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
      if (!message) {
        this.logger.warn(`Status callback for an unknown message SID (${callback.status}); kept in the history`);
        return { outcome: 'unknown_message' as const, messageId: null, status: null };
      }

      const update = new SqlParams(this.postgres);
      const set =
        `"status" = ${update.add(callback.status)}, ` +
        // A final status carries its error code (or clears one); earlier ones leave it as it is.
        (FINAL_STATUSES.has(callback.status) ? `"error_code" = ${update.add(callback.errorCode)}, ` : '') +
        `"updated_at" = ${update.time(now)}`;
      const updated = await runner.query(
        `UPDATE "sms_messages" SET ${set} WHERE "id" = ${update.add(message.id)} AND ${statusRankSql('"status"')} < ${update.add(statusRank(callback.status))} RETURNING "id"`,
        update.values,
        true,
      );
      if (!updated.records?.length) return { outcome: 'stale' as const, messageId: message.id, status: message.status, to: message.to };
      const mark = new SqlParams(this.postgres);
      await runner.query(`UPDATE "sms_status_events" SET "applied" = ${mark.add(true)} WHERE "id" = ${mark.add(eventId)}`, mark.values);
      return { outcome: 'applied' as const, messageId: message.id, status: callback.status, to: message.to };
    });
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
