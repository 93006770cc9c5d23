import type { Statement } from '../database/atomic.js';
import { SMS_CANCELLED, SMS_FAILED, SMS_QUEUED, SMS_SENDING, SMS_SKIPPED } from './sms-message.entity.js';

export interface BatchCounts {
  queued: number;
  sending: number;
  sent: number;
  failed: number;
  cancelled: number;
  /** Not sent: the number opted out before its message left. */
  skipped: number;
}

/** One row of a batch's GROUP BY: a status, whether its rows have no provider SID yet (1) or have one (0), how many. */
export interface BatchCountRow {
  status: string;
  waiting: unknown;
  n: unknown;
  /** The earliest not_before of the group, raw (only read by the batch view). */
  next: unknown;
}

export interface BatchTally {
  counts: BatchCounts;
  /** The provider's own statuses among the sent ones. */
  providerStatuses: Record<string, number>;
  statuses: { status: string; count: number }[];
  /** The raw earliest not_before among the waiting messages, null when none waits. */
  next: unknown;
}

/**
 * A batch's GROUP BY (index on batch_id, status), for Atomic: the batch view reads it on its own, and
 * SmsOutbox in the transaction that ends a batch, for the journal entry of its end.
 */
export function batchCountsStatement(batchId: string): Statement {
  const waiting = `CASE WHEN "provider_sid" IS NULL THEN 1 ELSE 0 END`;
  return {
    sql:
      `SELECT "status" AS "status", ${waiting} AS "waiting", COUNT(*) AS "n", MIN("not_before") AS "next" ` +
      `FROM "sms_messages" WHERE "batch_id" = ? GROUP BY "status", ${waiting}`,
    params: [batchId],
  };
}

/**
 * A batch's messages by our states, from its GROUP BY rows: `sent` is every status the provider gave, its `queued`
 * and `sending` (status callbacks) included, but `failed` (Twilio reported it failed: counted failed).
 */
export function tallyBatchRows(rows: BatchCountRow[]): BatchTally {
  const counts: BatchCounts = { queued: 0, sending: 0, sent: 0, failed: 0, cancelled: 0, skipped: 0 };
  const providerStatuses: Record<string, number> = {};
  const statuses: { status: string; count: number }[] = [];
  let next: unknown = null;
  for (const row of rows) {
    const n = Number(row.n);
    statuses.push({ status: row.status, count: n });
    const waiting = Number(row.waiting) === 1;
    if (row.status === SMS_QUEUED && waiting) {
      counts.queued += n;
      next = row.next ?? null;
    } else if (row.status === SMS_SENDING && waiting) counts.sending += n;
    else if (row.status === SMS_FAILED) counts.failed += n;
    else if (row.status === SMS_CANCELLED) counts.cancelled += n;
    else if (row.status === SMS_SKIPPED) counts.skipped += n;
    else {
      counts.sent += n;
      providerStatuses[row.status] = (providerStatuses[row.status] ?? 0) + n;
    }
  }
  return { counts, providerStatuses, statuses, next };
}
