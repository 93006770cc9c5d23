import { AuditAction } from '../../audit/audit-action.enum.js';
import type { AuditEntry } from '../../audit/audit.service.js';
import { SMS_CANCELLED, SMS_FAILED, SMS_SKIPPED, SmsKind, type SmsMessage } from '../sms-message.entity.js';

const ACTIONS: Record<SmsKind, AuditAction> = {
  [SmsKind.Single]: AuditAction.SendSms,
  [SmsKind.Notification]: AuditAction.SendNotificationSms,
  [SmsKind.Bulk]: AuditAction.SendBulkSms,
};

/**
 * The journal entry of a send in its final state (sent, failed, skipped, cancelled), written by SmsOutbox in the
 * transaction that stores that state: `send_sms`, `send_notification_sms`, or `send_bulk_sms` for each message of a
 * batch (with its `batchId`; the batch's own entries, `phase` accepted and finished, are batch-journal.ts's). The brief's
 * promise: every SMS sent is journaled with its number, message, Twilio status and SID.
 */
export function sendJournalEntry(message: SmsMessage): AuditEntry {
  // Why it did not leave: Twilio's code, CANCELLED, or why it was skipped (OPTED_OUT, OUTDATED).
  const notSent = message.status === SMS_FAILED || message.status === SMS_CANCELLED || message.status === SMS_SKIPPED;
  return {
    action: ACTIONS[message.kind as SmsKind] ?? AuditAction.SendSms,
    actor: message.actorId ? { id: message.actorId, email: message.actorEmail ?? undefined, role: message.actorRole as never } : null,
    // The request that asked for it (the dispatcher writes this entry later, outside that request).
    ip: message.actorIp ?? null,
    target:
      message.relatedType && message.relatedId
        ? { type: message.relatedType, id: message.relatedId }
        : { type: 'sms_message', id: message.id },
    metadata: {
      messageId: message.id,
      ...(message.batchId ? { batchId: message.batchId } : {}),
      to: message.to,
      message: message.body,
      ...(message.templateType ? { type: message.templateType, locale: message.locale } : {}),
      provider: message.provider,
      status: message.status,
      sid: message.providerSid ?? null,
      attempts: message.attempts,
      ...(notSent && message.errorCode ? { errorCode: message.errorCode, error: message.errorMessage } : {}),
    },
  };
}

/**
 * The journal entry of a single or notification send asked for later (`sendAt`), written with its row when it is
 * accepted: `sms_scheduled`, who asked for what, and when it is to leave. Its final state gets the send's own entry
 * (sendJournalEntry, `send_sms` / `send_notification_sms`, once per send as before).
 */
export function scheduledJournalEntry(message: SmsMessage): AuditEntry {
  const final = sendJournalEntry(message);
  return {
    ...final,
    action: AuditAction.SmsScheduled,
    metadata: {
      messageId: message.id,
      kind: message.kind,
      to: message.to,
      message: message.body,
      ...(message.templateType ? { type: message.templateType, locale: message.locale } : {}),
      provider: message.provider,
      sendAt: message.notBefore?.toISOString() ?? null,
    },
  };
}
