import type { DeliveryCounts } from '../common/related-messages.js';
import { deliveryCounts } from './webhooks/message-status.js';
import { Injectable, NotFoundException } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository, type SelectQueryBuilder } from 'typeorm';
import { Page, paginate, PaginationQueryDto } from '../common/dto/pagination.dto.js';
import { SmsBatch, type SmsBatchStatus } from './sms-batch.entity.js';
import { Atomic } from '../database/atomic.js';
import { batchCountsStatement, type BatchCountRow, type BatchCounts, tallyBatchRows } from './batch-counts.js';
import { SMS_FAILED, SmsMessage } from './sms-message.entity.js';

/** A batch's messages by our states: `sent` is every status the provider gave (queued, accepted, sent…). */
export const BATCH_STATES = ['queued', 'sending', 'sent', 'failed', 'cancelled', 'skipped'] as const;
export type BatchState = (typeof BATCH_STATES)[number];

export type { BatchCounts } from './batch-counts.js';

export interface BatchView {
  batchId: string;
  status: SmsBatchStatus;
  total: number;
  accepted: number;
  invalid: number;
  duplicates: number;
  counts: BatchCounts;
  /** The provider's own statuses among the sent ones. */
  providerStatuses: Record<string, number>;
  /** Settled (sent, failed, cancelled, skipped) over accepted, 0..1. */
  progress: number;
  /** How the messages went after the send, from Twilio's status callbacks. */
  delivery: DeliveryCounts;
  notBefore: Date | null;
  /**
   * When its waiting messages may leave (the earliest notBefore among them): a batch sent later, or marketing
   * messages held until the allowed hours open again. Null when none waits.
   */
  nextSendAt: Date | null;
  acceptedAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  cancelledAt: Date | null;
}

/** Reads bulk batches (counts, progress, messages); each batch's end is journaled by SmsOutbox (see batch-journal.ts). */
@Injectable()
export class SmsBatchesService {
  constructor(
    @InjectRepository(SmsBatch) private readonly batches: Repository<SmsBatch>,
    @InjectRepository(SmsMessage) private readonly messages: Repository<SmsMessage>,
    private readonly atomic: Atomic,
  ) {}

  async find(batchId: string): Promise<SmsBatch> {
    const batch = await this.batches.findOneBy({ id: batchId });
    if (!batch) throw new NotFoundException(`No bulk batch with id ${batchId}`);
    return batch;
  }

  async view(batchId: string): Promise<BatchView> {
    const batch = await this.find(batchId);
    const { counts, providerStatuses, statuses, nextSendAt } = await this.counts(batchId);
    const settled = counts.sent + counts.failed + counts.cancelled + counts.skipped;
    return {
      batchId: batch.id,
      status: batch.status,
      total: batch.total,
      accepted: batch.queued,
      invalid: batch.invalid,
      duplicates: batch.duplicates,
      counts,
      providerStatuses,
      progress: batch.queued ? Math.round((settled / batch.queued) * 1000) / 1000 : 1,
      delivery: deliveryCounts(statuses),
      notBefore: batch.notBefore,
      nextSendAt,
      acceptedAt: batch.createdAt,
      startedAt: batch.startedAt,
      finishedAt: batch.finishedAt,
      cancelledAt: batch.cancelledAt,
    };
  }

  /** One GROUP BY over the batch's rows (index on batch_id, status). */
  async counts(batchId: string): Promise<{
    counts: BatchCounts;
    providerStatuses: Record<string, number>;
    statuses: { status: string; count: number }[];
    nextSendAt: Date | null;
  }> {
    const { sql, params } = batchCountsStatement(batchId);
    const rows = (await this.atomic.query(sql, params)) as unknown as BatchCountRow[];
    const { counts, providerStatuses, statuses, next } = tallyBatchRows(rows);
    const nextSendAt = next == null ? null : this.hydrateDate('notBefore', next);
    return { counts, providerStatuses, statuses, nextSendAt };
  }

  /** A raw date from an aggregate, converted as TypeORM reads that column (SQLite stores text). */
  private hydrateDate(property: keyof SmsMessage, raw: unknown): Date {
    const column = this.messages.metadata.findColumnWithPropertyName(property)!;
    return this.messages.manager.connection.driver.prepareHydratedValue(raw, column) as Date;
  }

  /** A batch's messages in recipient order (one createdAt, then their ordered ids), optionally in one state. */
  async listMessages(batchId: string, query: PaginationQueryDto & { state?: BatchState }): Promise<Page<SmsMessage>> {
    await this.find(batchId);
    const qb = this.messages.createQueryBuilder('m').where('m.batchId = :batchId', { batchId });
    if (query.state) andWhereState(qb, query.state);
    return paginate(qb, query, 'createdAt', 'ASC');
  }
}

/**
 * Messages (alias `m`) in one of our states, the same buckets as a batch's counts (tallyBatchRows): `queued` and
 * `sending` are still here (no SID: Twilio's own `queued` and `sending` are sent), `sent` is taken by Twilio whatever
 * its status, except a message Twilio reported `failed`, which is failed.
 */
export function andWhereState(qb: SelectQueryBuilder<SmsMessage>, state: BatchState): void {
  switch (state) {
    case 'queued':
    case 'sending':
      qb.andWhere('m.status = :state AND m.providerSid IS NULL', { state });
      break;
    case 'sent':
      qb.andWhere('m.providerSid IS NOT NULL AND m.status <> :failed', { failed: SMS_FAILED });
      break;
    case 'failed':
    case 'cancelled':
    case 'skipped':
      qb.andWhere('m.status = :state', { state });
      break;
  }
}
