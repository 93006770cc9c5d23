import { AuditAction } from '../../audit/audit-action.enum.js';
import type { AuditEntry } from '../../audit/audit.service.js';
import type { BatchCounts } from '../batch-counts.js';
import type { SmsBatch } from '../sms-batch.entity.js';

/**
 * The journal entry of a bulk batch's end (`send_bulk_sms`, phase `finished`) with its final counts,
 * written by SmsOutbox in the transaction that ends the batch (its last message settled or cancelled, or
 * the batch cancelled with nothing in flight): the end and its entry cannot diverge across a crash, and
 * only the writer whose conditional UPDATE ended the batch writes it. `batch` is the row as that UPDATE
 * left it; the counts are read in the same transaction.
 */
export function batchFinishedEntry(batch: SmsBatch, counts: BatchCounts, providerStatuses: Record<string, number>): AuditEntry {
  return {
    action: AuditAction.SendBulkSms,
    actor: batch.actorId ? { id: batch.actorId, email: batch.actorEmail ?? undefined, role: batch.actorRole as never } : null,
    ip: batch.actorIp ?? null,
    target: { type: 'sms_batch', id: batch.id },
    metadata: {
      batchId: batch.id,
      phase: 'finished',
      status: batch.status,
      total: batch.total,
      accepted: batch.queued,
      invalid: batch.invalid,
      duplicates: batch.duplicates,
      ...counts,
      providerStatuses,
      startedAt: batch.startedAt,
      finishedAt: batch.finishedAt,
    },
  };
}
