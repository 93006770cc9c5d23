import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { GroupCommit } from '../database/group-commit.js';
import { InsertBatcher } from '../database/insert-batcher.js';
import { SmsMessage } from './sms-message.entity.js';

export interface SmsOutcome {
  status: string;
  providerSid: string | null;
  from: string | null;
  errorCode: string | null;
  errorMessage: string | null;
}

interface PendingOutcome {
  id: string;
  outcome: SmsOutcome;
}

/**
 * The send path's writes to sms_messages, group-committed: concurrent sends share one multi-row
 * INSERT for their `pending` rows and one multi-row UPDATE for their outcomes, and each caller goes
 * on only once its own row is committed.
 */
@Injectable()
export class SmsMessageStore {
  private readonly inserts: InsertBatcher<SmsMessage>;
  private readonly outcomes = new GroupCommit<PendingOutcome>((batch) => this.update(batch));
  private readonly postgres: boolean;

  constructor(@InjectRepository(SmsMessage) private readonly messages: Repository<SmsMessage>) {
    this.inserts = new InsertBatcher(messages);
    this.postgres = messages.manager.connection.driver.options.type === 'postgres';
  }

  /** Writes the attempt before the provider is called. */
  insertPending(row: SmsMessage): Promise<void> {
    return this.inserts.insert(row);
  }

  /** The message made under this dedupe key, if any (issue 8: a replayed event finds its message). */
  findByDedupeKey(dedupeKey: string): Promise<SmsMessage | null> {
    return this.messages.findOneBy({ dedupeKey });
  }

  /** Stores the provider's answer (or the failure) on the attempt. */
  recordOutcome(id: string, outcome: SmsOutcome): Promise<void> {
    return this.outcomes.submit({ id, outcome });
  }

  /**
   * One UPDATE … FROM (VALUES …) for the whole batch: the same SQL on SQLite (3.33+) and PostgreSQL,
   * where VALUES columns are both named column1, column2…; PostgreSQL needs the uuid and timestamp casts.
   */
  private async update(batch: PendingOutcome[]): Promise<void> {
    const params: unknown[] = [];
    const slot = (value: unknown) => {
      params.push(value);
      return this.postgres ? `$${params.length}` : '?';
    };
    // Slots are numbered in the order they appear in the SQL (SQLite's `?` are positional).
    const now = new Date();
    const updatedAt = slot(this.postgres ? now : now.toISOString().replace('T', ' ').replace('Z', ''));
    const rows = batch.map(
      ({ id, outcome: o }) =>
        `(${[id, o.status, o.providerSid, o.from, o.errorCode, o.errorMessage?.slice(0, 500) ?? null].map(slot).join(', ')})`,
    );
    const t = '"sms_messages"';
    const sql =
      `UPDATE ${t} SET "status" = v.column2, "provider_sid" = v.column3, "from" = COALESCE(v.column4, ${t}."from"), ` +
      `"error_code" = v.column5, "error_message" = v.column6, "updated_at" = ${updatedAt}${this.postgres ? '::timestamptz' : ''} ` +
      `FROM (VALUES ${rows.join(', ')}) AS v WHERE ${t}."id" = ${this.postgres ? 'v.column1::uuid' : 'v.column1'}`;
    await this.messages.query(sql, params);
  }
}
