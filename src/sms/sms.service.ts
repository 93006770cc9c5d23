import { ConflictException, Inject, Injectable, NotFoundException } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import { Repository } from 'typeorm';
import { AuditAction } from '../audit/audit-action.enum.js';
import { AuditLog } from '../audit/audit-log.entity.js';
import { AuditService } from '../audit/audit.service.js';
import type { Actor } from '../common/actor.js';
import { AppConfig } from '../config/app-config.js';
import { nameUuid, orderedUuids } from '../common/ordered-ids.js';
import { UNAVAILABLE, foundAfterFailedWrite, unlessUnavailable } from '../database/database-errors.js';
import { DISPATCH_QUEUE, type DispatchQueue } from './dispatch/dispatch-queue.js';
import { SmsDispatcher } from './dispatch/sms-dispatcher.js';
import { SmsOutbox, type BulkMessages } from './dispatch/sms-outbox.js';
import { batchFinishedEntry } from './dispatch/batch-journal.js';
import { tallyBatchRows } from './batch-counts.js';
import { analyzeSmsBody, MAX_SMS_BODY_LENGTH, type SmsBodyAnalysis } from './encoding/sms-encoding.js';
import { isoDateMessage, parseIsoDate } from '../common/dto/iso-date.js';
import { describePhoneProblem, InvalidPhoneNumberError, PhoneNumberService } from '../phone/phone-number.service.js';
import { readingTimeZone } from '../phone/region-time-zones.js';
import { SMS_PROVIDER, type ProviderFailure, type SmsProvider } from './providers/sms-provider.js';
import { SmsBatch } from './sms-batch.entity.js';
import { SmsBatchesService, type BatchView } from './sms-batches.service.js';
import { SMS_CANCELLED, SMS_FAILED, SMS_QUEUED, SMS_SENDING, SMS_SKIPPED, SmsKind, SmsMessage } from './sms-message.entity.js';
import { describeOptOut, OPTED_OUT, SmsOptedOutError } from './opt-outs/opted-out.error.js';
import { OptOutService } from './opt-outs/opt-out.service.js';
import { MarketingPolicy } from './marketing/marketing-policy.js';
import { OptOutSource, type SmsOptOut } from './opt-outs/sms-opt-out.entity.js';
import { SmsInputError, SmsSendError } from './sms-exceptions.js';
import type { BulkAccepted, BulkRecipient, SmsContext, SmsSendResult } from './sms.types.js';
import { PROVIDER_PAUSED } from './sms.events.js';
import { SmsTemplateService, TemplateDataError } from './templates/sms-template.service.js';
import { NAME_PLACEHOLDER, ONLY_NAME_PLACEHOLDER, personalize, strayPlaceholder } from './placeholders.js';
import { placeholderProblem } from '../common/inline-text.js';

/** Like Twilio's own scheduling: at most 35 days ahead. */
const MAX_SEND_AHEAD_MS = 35 * 24 * 3600 * 1000;
/** How often a waiting request re-reads its row when no local signal came (the worker may be another instance). */
const WAIT_POLL_MS = 250;
/** The default category (the `category` label of the metrics and statistics); bulk sends may say `marketing`. */
export const SMS_CATEGORY: 'transactional' | 'marketing' = 'transactional';

interface Draft {
  to: string;
  category?: 'transactional' | 'marketing';
  body: string;
  kind: SmsKind;
  templateType?: string;
  locale?: string;
}

/**
 * The one public door for sending SMS: controllers and other modules (appointments, dossiers…) inject
 * this. Every message is first a `queued` row in the outbox (sms_messages); the dispatcher
 * (src/sms/dispatch) sends it within the limits toward the provider, retries it, and journals it.
 * Single and notification sends wait for their own row within SMS_SEND_WAIT_MS; bulk sends answer at once.
 */
@Injectable()
export class SmsService {
  constructor(
    private readonly outbox: SmsOutbox,
    private readonly dispatcher: SmsDispatcher,
    private readonly batches: SmsBatchesService,
    @Inject(DISPATCH_QUEUE) private readonly queue: DispatchQueue,
    @Inject(SMS_PROVIDER) private readonly provider: SmsProvider,
    @InjectRepository(AuditLog) private readonly auditLogs: Repository<AuditLog>,
    private readonly phones: PhoneNumberService,
    private readonly templates: SmsTemplateService,
    private readonly audit: AuditService,
    private readonly config: AppConfig,
    private readonly optOuts: OptOutService,
    private readonly marketing: MarketingPolicy,
  ) {}

  /** A free-text SMS. Throws SmsInputError (bad number, body or sendAt) or SmsSendError (failed for good). */
  async send(to: string, body: string, context: SmsContext): Promise<SmsSendResult> {
    // Composed (NFC): an accent typed as a separate mark (macOS, iOS) is UCS-2 and doubles the segments; `é` is GSM-7.
    if (typeof body === 'string') body = body.normalize('NFC');
    const stray = strayPlaceholder(body, null);
    if (stray)
      throw new SmsInputError(
        'message',
        `message contains ${stray}, which a single send leaves as written: write the text out, or use POST /api/sms/notification (templates) or POST /api/sms/bulk ({{name}})`,
      );
    const draft: Draft = { to: this.normalize(to, 'to'), body, kind: SmsKind.Single };
    return this.sendOne(draft, this.analyze(body, 'message'), context);
  }

  /** A templated SMS of one of the notification types, in the context's locale (French by default). */
  async sendNotification(to: string, type: string, data: Record<string, unknown>, context: SmsContext): Promise<SmsSendResult> {
    const e164 = this.normalize(to, 'to');
    // A date and time written in the recipient's zone: an overseas client reads its own clock, not Paris's.
    const body = this.render(type, data, context.locale, readingTimeZone(this.phones.format(e164).country, this.config.defaultTimeZone));
    // Stored as the locale the text was written in (`en-GB-oed` → `en`), not as the caller wrote it.
    const locale = this.templates.resolveLocale(context.locale);
    const draft: Draft = { to: e164, body, kind: SmsKind.Notification, templateType: type, locale };
    return this.sendOne(draft, this.analyze(body, 'data'), context);
  }

  /**
   * One message to many, accepted at once: `{{name}}` personalised, numbers deduplicated once
   * normalised, invalid numbers reported by index. The batch and all its messages are written in one
   * transaction (all or none) with its `send_bulk_sms` acceptance entry; nothing is sent in the call.
   */
  async sendBulk(recipients: BulkRecipient[], body: string, context: SmsContext): Promise<BulkAccepted> {
    const max = this.config.sms.bulkMaxRecipients;
    if (recipients.length > max)
      throw new SmsInputError('recipients', `recipients must contain at most ${max} entries (got ${recipients.length})`);
    if (typeof body !== 'string' || !hasVisibleText(body)) throw new SmsInputError('message', 'message must contain text, not only spaces');
    body = body.normalize('NFC');
    const stray = strayPlaceholder(body, ONLY_NAME_PLACEHOLDER);
    if (stray) throw new SmsInputError('message', `message contains ${stray}, which a bulk leaves as written: only {{name}} is replaced`);
    const category = context.category ?? SMS_CATEGORY;
    // Marketing: the opt-out mention is part of the text (and of its segments); it leaves only within the allowed hours.
    const mention = category === 'marketing' ? this.marketing.withMention(body) : { body, appended: false };
    body = mention.body;
    // What a recipient without a name gets says nothing (`{{name}}` alone; for a marketing batch, whether the
    // mention was appended or written in, the mention alone is not a message): such recipients get nothing.
    const nameless = personalize(body, undefined);
    const namelessIsEmpty = !hasVisibleText(nameless) || (category === 'marketing' && !this.marketing.hasTextBesidesMention(nameless));
    if (namelessIsEmpty && !NAME_PLACEHOLDER.test(body))
      throw new SmsInputError('message', 'message must contain text besides the opt-out mention');
    // What every recipient gets at least (the mention included) must fit: otherwise each one would be refused alone.
    if (nameless.length > MAX_SMS_BODY_LENGTH)
      throw new SmsInputError(
        'message',
        `message is ${nameless.length} characters${mention.appended ? ' with the opt-out mention appended' : ''}; Twilio accepts at most ${MAX_SMS_BODY_LENGTH}`,
      );
    const notBefore = this.marketing.notBefore(category, parseSendAt(context.sendAt));
    // Keyed (a request's Idempotency-Key): a second run of the request finds the batch the first one wrote.
    const batchId = context.dedupeKey ? nameUuid(context.dedupeKey) : randomUUID();
    const now = new Date();
    const seen = new Set<string>();
    const invalid: BulkAccepted['invalid'] = [];
    const duplicates: BulkAccepted['duplicates'] = [];
    // Column by column, no entity per message: what differs between a batch's rows (see SmsOutbox.insertBulk).
    const messages: BulkMessages = { id: [], to: [], body: [], segments: [], encoding: [] };
    // Ids in recipient order: the batch's messages list in that order (they share createdAt; pages sort by id next).
    const ids = orderedUuids(recipients.length, now.getTime());
    let segments = 0;
    const usesName = NAME_PLACEHOLDER.test(body);
    // A number written the same way twice is parsed once; a parsed number is not formatted for display.
    const verdicts = new Map<string, ReturnType<PhoneNumberService['recipientNumber']>>();
    const numbers = recipients.map((recipient) => {
      let verdict = verdicts.get(recipient.phone);
      if (!verdict) verdicts.set(recipient.phone, (verdict = this.phones.recipientNumber(recipient.phone)));
      return verdict;
    });
    // Numbers on the opt-out list are skipped, each with its opt-out (one query).
    const optedOut = await this.optOuts.check(numbers.flatMap((n) => (n.e164 ? [n.e164] : [])));
    // One analysis per distinct text: without {{name}} (or with repeated names) the texts repeat.
    const analyses = new Map<string, SmsBodyAnalysis>();

    recipients.forEach((recipient, index) => {
      const { e164, reason } = numbers[index]!;
      if (!e164) {
        invalid.push({
          index,
          phone: recipient.phone,
          name: recipient.name,
          code: reason?.code ?? 'INVALID_NUMBER',
          message: describePhoneProblem('phone', reason?.message),
        });
        return;
      }
      if (seen.has(e164)) {
        duplicates.push({ index, phone: recipient.phone, to: e164 });
        return;
      }
      const optOut = optedOut.get(e164);
      if (optOut) {
        // The number is refused whatever its spelling: a later one is a duplicate of this refusal.
        seen.add(e164);
        invalid.push({ index, phone: recipient.phone, name: recipient.name, code: OPTED_OUT, message: describeOptOut(optOut) });
        return;
      }
      // A name holding a placeholder left unfilled upstream ("{{first_name}}" from a failed mail merge) would reach the
      // client as written: this recipient is refused, the others go.
      const namePlaceholder = usesName && typeof recipient.name === 'string' && placeholderProblem(recipient.name);
      if (namePlaceholder) {
        invalid.push({ index, phone: recipient.phone, name: recipient.name, code: 'NAME_PLACEHOLDER', message: `name ${namePlaceholder}` });
        return;
      }
      const personal = personalize(body, recipient.name);
      // Only when the text without a name says nothing: does this recipient's name say something (for a
      // marketing batch, besides the mention: a name of punctuation, or the mention itself, does not)?
      const saysNothing =
        namelessIsEmpty && (category === 'marketing' ? !this.marketing.hasTextBesidesMention(personal) : !hasVisibleText(personal));
      if (saysNothing) {
        // `{{name}}` alone, and this recipient has no name: nothing to send.
        invalid.push({
          index,
          phone: recipient.phone,
          name: recipient.name,
          code: 'EMPTY_BODY',
          message: 'message has no text once personalised (give this recipient a name, or add text around {{name}})',
        });
        return;
      }
      if (personal.length > MAX_SMS_BODY_LENGTH) {
        invalid.push({
          index,
          phone: recipient.phone,
          name: recipient.name,
          code: 'BODY_TOO_LONG',
          message: `message is ${personal.length} characters once personalised (max ${MAX_SMS_BODY_LENGTH})`,
        });
        return;
      }
      // Counted as seen only once accepted: a refusal that depends on this entry's name (NAME_PLACEHOLDER, EMPTY_BODY, BODY_TOO_LONG) leaves
      // a later spelling of the number, with another name, its chance.
      seen.add(e164);
      let analysis = analyses.get(personal);
      if (!analysis) analyses.set(personal, (analysis = analyzeSmsBody(personal)));
      segments += analysis.segments;
      messages.id.push(ids[messages.id.length]!);
      messages.to.push(e164);
      messages.body.push(personal);
      messages.segments.push(analysis.segments);
      messages.encoding.push(analysis.encoding);
    });
    const queued = messages.id.length;
    // What every message of the batch shares (its to, body, segments and encoding come from `messages`).
    const written = analyzeSmsBody(body);
    // The key names the batch (its id): its messages carry none of their own.
    const shared = this.row(
      { to: '', body, kind: SmsKind.Bulk, category },
      written,
      { ...context, dedupeKey: undefined },
      notBefore,
      now,
      batchId,
    );

    const batch: SmsBatch = Object.assign(new SmsBatch(), {
      id: batchId,
      status: queued ? 'running' : 'completed',
      message: body,
      total: recipients.length,
      queued,
      invalid: invalid.length,
      duplicates: duplicates.length,
      remaining: queued,
      actorId: context.actor?.id ?? null,
      actorEmail: context.actor?.email ?? null,
      actorRole: context.actor?.role ?? null,
      actorIp: context.actor?.ip ?? null,
      notBefore,
      createdAt: now,
      startedAt: null,
      finishedAt: queued ? null : now,
      cancelledAt: null,
    });
    const accepted = this.audit.toRow({
      action: AuditAction.SendBulkSms,
      actor: context.actor,
      target: { type: 'sms_batch', id: batchId },
      metadata: {
        batchId,
        phase: 'accepted',
        message: body,
        provider: this.provider.name,
        total: recipients.length,
        queued,
        invalid: invalid.length,
        duplicates: duplicates.length,
        sendAt: notBefore,
      },
    });
    const entries = [Object.assign(new AuditLog(), { id: randomUUID(), ...accepted })];
    if (!queued) {
      // Nothing to send (every recipient invalid, duplicated or opted out): the batch ends as it is written,
      // with the journal entry of its end like any other batch.
      const { counts, providerStatuses } = tallyBatchRows([]);
      entries.push(
        Object.assign(new AuditLog(), { id: randomUUID(), ...this.audit.toRow(batchFinishedEntry(batch, counts, providerStatuses)) }),
      );
    }
    const journal = this.outbox.insertStatement(this.auditLogs, entries);
    // The same request run again (its Idempotency-Key taken over after its process died): its batch is written
    // already, and going out; answered as the first run would have been, nothing written twice.
    let stored = context.dedupeKey ? await this.outbox.batchStatus(batchId) : null;
    if (stored === null) {
      try {
        await this.outbox.insertBulk(batch, shared, messages, [journal]);
      } catch (error) {
        if (!context.dedupeKey) throw error;
        stored = await foundAfterFailedWrite(error, () => this.outbox.batchStatus(batchId));
      }
      if (stored === null) this.queue.notify(messages.id.map((id) => ({ id, notBefore, bulk: true })));
    }
    return {
      batchId,
      status: (stored ?? batch.status) as BulkAccepted['status'],
      provider: this.provider.name,
      total: recipients.length,
      queued,
      segments,
      encoding: written.encoding,
      ucs2Characters: written.ucs2Characters,
      ...(written.encoding === 'UCS-2' ? { encodingNote: encodingNote(body, written) } : {}),
      ucs2Messages: messages.encoding.filter((encoding) => encoding === 'UCS-2').length,
      notBefore,
      category,
      stopMentionAppended: mention.appended,
      invalid,
      duplicates,
    };
  }

  /**
   * Cancels a message that has not left: 404 unknown, 409 once it left (or already ended). Journaled as
   * `sms_cancelled` under `actor` (who cancelled; null for the system), with the cancellation.
   *
   * A message whose last attempt's outcome is unknown (a timeout, a lost connection: it may be at Twilio) is not
   * marked cancelled: it is returned still `queued`, with `cancelRequestedAt`, never sent again, and looked up once
   * more; it then ends `sent` (Twilio had it) or `cancelled` (SmsDispatcher). Asked again, the same row is returned.
   */
  async cancel(id: string, actor: Actor | null = null): Promise<SmsMessage> {
    const message = await this.outbox.get(id);
    if (!message) throw new NotFoundException(`No SMS with id ${id}`);
    const entry = this.cancellationEntry(
      actor,
      { type: 'sms_message', id },
      { messageId: id, batchId: message.batchId, kind: message.kind },
    );
    const now = new Date();
    const result = await this.outbox.cancelMessage(message, now, entry);
    if (!result.cancelled) {
      const current = (await this.outbox.get(id))!;
      // Asked to stop (now or before) and still waiting for its look-up (queued, or being looked up): the same 202.
      const waiting = !current.providerSid && (current.status === SMS_QUEUED || current.status === SMS_SENDING);
      if (current.cancelRequestedAt && waiting) return current;
      // Asked now, and already looked up and ended cancelled since: as any cancellation.
      if (result.requested && current.status === SMS_CANCELLED) return current;
      // Once sent, the stored status is Twilio's (its `queued` means queued at Twilio, past cancelling here).
      throw new ConflictException({
        message: `SMS ${id} can no longer be cancelled: ${current.providerSid ? `Twilio has it (status ${current.status})` : `it is ${current.status}`}`,
        currentStatus: current.status,
        sid: current.providerSid,
      });
    }
    Object.assign(message, { status: SMS_CANCELLED, updatedAt: now });
    this.queue.forget?.([id]);
    await this.dispatcher.afterFinal(message, now, result.published);
    return message;
  }

  /**
   * Cancels what has not left of a batch; what is in flight finishes. 409 once the batch ended. Journaled as
   * `sms_cancelled` under `actor`, with how many messages it stopped.
   */
  async cancelBatch(batchId: string, actor: Actor | null = null): Promise<BatchView> {
    const batch = await this.batches.find(batchId);
    if (batch.status !== 'running') throw batchConflict(batch);
    // With nothing in flight the batch ends here, its journal entry committed with the cancellation.
    // Those whose last attempt's outcome is unknown are looked up once more, then end sent or cancelled (see cancel).
    const { applied, cancelled } = await this.outbox.cancelBatch(batchId, new Date(), (count, lookingUp) =>
      this.cancellationEntry(actor, { type: 'sms_batch', id: batchId }, { batchId, cancelled: count, ...(lookingUp ? { lookingUp } : {}) }),
    );
    // Another request cancelled it, or its last message settled, since it was read.
    if (!applied) throw batchConflict(await this.batches.find(batchId));
    this.queue.forget?.(cancelled.map((message) => message.id));
    const at = new Date();
    for (const { published, ...ended } of cancelled) {
      // A batch's cancellation is journaled once (sms_cancelled, with how many it stopped): its messages, never sent, get no send entry each.
      const message = Object.assign(new SmsMessage(), { ...ended, status: SMS_CANCELLED, kind: SmsKind.Bulk, batchId });
      await this.dispatcher.afterFinal(message, at, published);
    }
    return this.batches.view(batchId);
  }

  /** The `sms_cancelled` journal entry: who cancelled what (no number or text: the send's own entries hold them). */
  private cancellationEntry(actor: Actor | null, target: { type: string; id: string }, metadata: Record<string, unknown>): AuditLog {
    return Object.assign(new AuditLog(), {
      id: randomUUID(),
      ...this.audit.toRow({ action: AuditAction.SmsCancelled, actor, target, metadata }),
    });
  }

  private async sendOne(draft: Draft, analysis: SmsBodyAnalysis, context: SmsContext): Promise<SmsSendResult> {
    const notBefore = parseSendAt(context.sendAt);
    if (context.dedupeKey) {
      const existing = await this.outbox.findByDedupeKey(context.dedupeKey);
      if (existing) return this.awaitOutcome(existing, context.waitMs);
    }
    const row = this.row(draft, analysis, context, notBefore, new Date());
    const optOut = await this.optOuts.isOptedOut(draft.to);
    if (optOut) return this.skipOptedOut(row, optOut, context);
    // Due now with a sending slot free in this process: the row is written already claimed under its lease
    // and sent from here, without a claim of its own (the dispatcher still checks opt-outs before the call).
    const slot = notBefore ? null : (this.queue.reserve?.(new Date()) ?? null);
    if (slot)
      Object.assign(row, {
        status: SMS_SENDING,
        leaseUntil: slot.leaseUntil,
        attempts: 1,
        lastAttemptAt: row.createdAt,
        firstAttemptAt: row.createdAt,
      });
    try {
      // Sent later: journaled now as well (sms_scheduled: who asked for what, and when), its final state when it has one.
      if (notBefore) await this.outbox.insertScheduled(row);
      else await this.outbox.insert(row);
    } catch (error) {
      slot?.release();
      // Two calls with one dedupe key at once: the unique index lets one row in; the other waits on it.
      return this.awaitOutcome(await this.existingAfter(error, context.dedupeKey), context.waitMs);
    }
    if (slot) slot.run(row);
    else this.queue.notify([{ id: row.id, notBefore }]);
    // Send later answers at once; the caller cancels or polls with the id.
    return notBefore ? this.result(row) : this.awaitOutcome(row, context.waitMs);
  }

  /**
   * A send to an opted-out number: stored as `skipped` (OPTED_OUT, with the opt-out in words), journaled
   * like any final message, and refused with SmsOptedOutError (409). A replay with the same dedupe key
   * finds the skipped row and is refused the same way.
   */
  private async skipOptedOut(row: SmsMessage, optOut: SmsOptOut, context: SmsContext): Promise<never> {
    Object.assign(row, { status: SMS_SKIPPED, errorCode: OPTED_OUT, errorMessage: describeOptOut(optOut), notBefore: null });
    const now = new Date();
    let published: boolean;
    try {
      published = await this.outbox.insertFinal(row, now);
    } catch (error) {
      throw new SmsOptedOutError(optOut, (await this.existingAfter(error, context.dedupeKey)).id, this.config.defaultTimeZone);
    }
    await this.dispatcher.afterFinal(row, now, published);
    throw new SmsOptedOutError(optOut, row.id, this.config.defaultTimeZone);
  }

  /**
   * The row with this dedupe key after an insert of it failed: another call's (the unique index let one in), or this
   * call's own when the insert's answer was lost. Else the insert's error (foundAfterFailedWrite: a 504 stays a 504).
   */
  private async existingAfter(insertError: unknown, dedupeKey: string | undefined): Promise<SmsMessage> {
    if (!dedupeKey) throw insertError;
    return foundAfterFailedWrite(insertError, () => this.outbox.findByDedupeKey(dedupeKey));
  }

  /**
   * Waits for the row to leave within SMS_SEND_WAIT_MS (a local signal from this process's dispatcher,
   * or re-reading the row when another instance sends it). Sent: the provider's answer. Failed for good:
   * SmsSendError. Cancelled meanwhile: `state: 'cancelled'`. Still waiting (send later, retries, slow provider,
   * or this process shutting down: its dispatcher halted): `state: 'queued'`.
   */
  private async awaitOutcome(row: SmsMessage, waitMs = this.config.dispatch.sendWaitMs): Promise<SmsSendResult> {
    const deadline = Date.now() + waitMs;
    let current = row;
    let failure: ProviderFailure | undefined;
    const listener = (id: string, f?: ProviderFailure) => {
      if (id === row.id && f) failure = f;
    };
    this.dispatcher.settled.on('failure', listener);
    try {
      for (;;) {
        if (isFinal(current) || this.dispatcher.halted) break;
        const waitingUntil = current.notBefore?.getTime() ?? 0;
        if (waitingUntil > deadline || Date.now() >= deadline) break;
        const settled = await this.signalOrTimeout(row.id, Math.min(WAIT_POLL_MS, Math.max(0, deadline - Date.now())));
        if (settled) current = settled;
        else {
          // The row is stored: a database that stops answering now must not make it look unwritten (a 503 says
          // "nothing was stored: try again", and the retry would send a second SMS). Answered as last read (202).
          const read = await this.outbox.get(row.id).catch(unlessUnavailable);
          if (read === UNAVAILABLE) break;
          current = read ?? current;
        }
      }
    } finally {
      this.dispatcher.settled.off('failure', listener);
    }
    if (current.status === SMS_FAILED) throw new SmsSendError(failure ?? storedFailure(current), current.id, current.to);
    if (current.status === SMS_SKIPPED && current.errorCode === OPTED_OUT) {
      // Opted out before it left (or a replay of a refused send): refused like a send to an opted-out number.
      const optOut = await this.optOuts.isOptedOut(current.to).catch(unlessUnavailable);
      throw new SmsOptedOutError(
        (optOut !== UNAVAILABLE && optOut) || { phone: current.to, optedOutAt: current.updatedAt, source: OptOutSource.Manual },
        current.id,
        this.config.defaultTimeZone,
      );
    }
    return this.result(current, this.pausedReason(current));
  }

  /**
   * Why a message still waiting with no error of its own has not left, when the reason is that the provider looks down
   * (its circuit is open, see ProviderCircuit: it is held, or not claimed, until calls resume): said as its lastError
   * (PROVIDER_PAUSED); the caller saw only a 202 before. Not for a message due after the pause (sent later).
   */
  private pausedReason(row: SmsMessage): SmsSendResult['lastError'] {
    if (row.providerSid || row.errorCode || (row.status !== SMS_QUEUED && row.status !== SMS_SENDING)) return null;
    const until = this.dispatcher.providerPausedUntil();
    if (!until || (row.notBefore && row.notBefore.getTime() > until.getTime())) return null;
    return { code: PROVIDER_PAUSED, message: `Twilio looks down: sends are paused until ${until.toISOString()}, then resume` };
  }

  /** The final row when this process's dispatcher settled it; undefined on a reschedule or a timeout (read the row). */
  private signalOrTimeout(id: string, ms: number): Promise<SmsMessage | undefined> {
    return new Promise((resolve) => {
      const done = (message?: SmsMessage) => {
        clearTimeout(timer);
        this.dispatcher.settled.off(id, done);
        this.dispatcher.settled.off('halted', halted);
        resolve(message);
      };
      const halted = () => done();
      const timer = setTimeout(done, ms);
      this.dispatcher.settled.once(id, done);
      this.dispatcher.settled.once('halted', halted);
    });
  }

  private result(row: SmsMessage, waitingReason: SmsSendResult['lastError'] = null): SmsSendResult {
    const analysis = analyzeSmsBody(row.body);
    const sent = !!row.providerSid;
    return {
      state: sent ? 'sent' : row.status === SMS_CANCELLED ? 'cancelled' : 'queued',
      id: row.id,
      sid: row.providerSid,
      status: row.status,
      to: row.to,
      from: row.from,
      segments: analysis.segments,
      encoding: analysis.encoding,
      ucs2Characters: analysis.ucs2Characters,
      ...(analysis.encoding === 'UCS-2' ? { encodingNote: encodingNote(row.body, analysis) } : {}),
      provider: row.provider,
      body: row.body,
      ...(sent
        ? {}
        : {
            notBefore: row.notBefore,
            attempts: row.attempts,
            lastError: row.errorCode ? { code: row.errorCode, message: row.errorMessage ?? '' } : waitingReason,
          }),
    };
  }

  private row(
    draft: Draft,
    analysis: SmsBodyAnalysis,
    context: SmsContext,
    notBefore: Date | null,
    now: Date,
    batchId?: string,
  ): SmsMessage {
    // A plain construction: repository.create() walks the entity metadata on every row.
    return Object.assign(new SmsMessage(), {
      id: randomUUID(),
      to: draft.to,
      from: this.provider.sender,
      body: draft.body,
      kind: draft.kind,
      templateType: draft.templateType ?? null,
      locale: draft.locale ?? null,
      batchId: batchId ?? null,
      relatedType: context.related?.type ?? null,
      relatedId: context.related?.id ?? null,
      relatedVersion: context.related?.version ?? null,
      provider: this.provider.name,
      status: SMS_QUEUED,
      providerSid: null,
      errorCode: null,
      errorMessage: null,
      segments: analysis.segments,
      encoding: analysis.encoding,
      actorId: context.actor?.id ?? null,
      actorEmail: context.actor?.email ?? null,
      actorRole: context.actor?.role ?? null,
      actorIp: context.actor?.ip ?? null,
      // Due from now unless sent later: the dispatcher reads due rows as one index range.
      notBefore: notBefore ?? now,
      leaseUntil: null,
      attempts: 0,
      dedupeKey: context.dedupeKey ?? null,
      category: draft.category ?? SMS_CATEGORY,
      lastAttemptAt: null,
      firstAttemptAt: null,
      cancelRequestedAt: null,
      sentAt: null,
      // Millisecond times from here: SQLite's own default has whole seconds.
      createdAt: now,
      updatedAt: now,
    });
  }

  private normalize(phone: string, field: string): string {
    try {
      return this.phones.normalize(phone, { field, sms: true });
    } catch (error) {
      if (error instanceof InvalidPhoneNumberError) throw new SmsInputError(field, error.message, undefined, error.code, error.advice);
      throw error;
    }
  }

  private render(type: string, data: Record<string, unknown>, locale: string | undefined, timeZone: string): string {
    try {
      return this.templates.render(type, data, locale, timeZone);
    } catch (error) {
      if (!(error instanceof TemplateDataError)) throw error;
      const field = ['type', 'locale', 'data'].includes(error.field) ? error.field : `data.${error.field}`;
      throw new SmsInputError(field, error.message, error.allowed);
    }
  }

  private analyze(body: string, field: string): SmsBodyAnalysis {
    // `data`: the text is the template rendered with it, not `data` itself.
    const what = field === 'data' ? 'the message rendered from data' : field;
    if (!hasVisibleText(body)) throw new SmsInputError(field, `${what} must contain text, not only spaces`);
    if (body.length > MAX_SMS_BODY_LENGTH) {
      throw new SmsInputError(field, `${what} is ${body.length} characters long; Twilio accepts at most ${MAX_SMS_BODY_LENGTH}`);
    }
    return analyzeSmsBody(body);
  }
}

/** Spaces of any kind and invisible format characters (zero-width, direction marks, soft hyphen) are not text. */
const INVISIBLE = /[\p{White_Space}\p{Cf}]/gu;

/** Whether a message has something a reader would see. */
export function hasVisibleText(text: string): boolean {
  return text.replace(INVISIBLE, '') !== '';
}

function isFinal(row: SmsMessage): boolean {
  return (
    !!row.providerSid ||
    row.status === SMS_FAILED ||
    row.status === SMS_CANCELLED ||
    (row.status !== SMS_QUEUED && row.status !== SMS_SENDING)
  );
}

/**
 * `sendAt`: ISO 8601 with an offset (`2030-01-15T14:30:00+01:00`, `…Z`), a real date, in the future and
 * at most 35 days ahead. Null when absent.
 */
export function parseSendAt(value: string | Date | undefined, now = new Date()): Date | null {
  if (value === undefined || value === null) return null;
  let date: Date;
  if (value instanceof Date) date = value;
  else {
    // The one date rule of the API (src/common/dto/iso-date.ts): an offset is required, no rollover.
    const parsed = parseIsoDate(value, { dateOnly: false });
    if (!parsed.ok) throw new SmsInputError('sendAt', isoDateMessage('sendAt', parsed.problem));
    date = parsed.date;
  }
  if (Number.isNaN(date.getTime())) throw new SmsInputError('sendAt', 'sendAt is not a valid date');
  if (date.getTime() <= now.getTime()) throw new SmsInputError('sendAt', 'sendAt must be in the future');
  if (date.getTime() - now.getTime() > MAX_SEND_AHEAD_MS) throw new SmsInputError('sendAt', 'sendAt must be at most 35 days ahead');
  return date;
}

/** A failure rebuilt from what the row stores (when the attempt ran in another process). */
function storedFailure(row: SmsMessage): ProviderFailure {
  const message = row.errorMessage ?? 'Failed';
  const code = row.errorCode ?? '';
  if (code === 'TIMEOUT') return { kind: 'timeout', message };
  if (code === 'NETWORK') return { kind: 'network', message };
  if (code === 'CONNECTION_LOST' || code === 'LEASE_EXPIRED') return { kind: 'lost', message };
  const n = Number(code);
  if (!Number.isInteger(n)) return { kind: 'rejected', message };
  if (n < 1000) return { kind: 'rejected', status: n, message };
  // Twilio's 205xx codes are its 5xx answers.
  const status = n >= 20500 && n < 20600 ? n - 20000 : n === 20429 ? 429 : undefined;
  return { kind: 'rejected', code: n, status, message, moreInfo: `https://www.twilio.com/docs/errors/${n}` };
}

/** E.g. "UCS-2 because of ê: 2 segments (1 segment without it)"; "UCS-2 because of U+00A0: …" for a no-break space. */
export function encodingNote(body: string, analysis: SmsBodyAnalysis): string {
  // A space or an invisible character (a no-break space, a tab, a zero-width joiner) is named by its code point: written
  // as itself it cannot be seen in the note.
  const named = (ch: string) =>
    /^[\p{Z}\p{C}\s]+$/u.test(ch) ? `U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}` : ch;
  const forcing = analysis.ucs2Characters.map(named).join(' ');
  const rest = [...body].filter((ch) => !analysis.ucs2Characters.includes(ch)).join('');
  const plural = (n: number) => `${n} segment${n > 1 ? 's' : ''}`;
  const it = analysis.ucs2Characters.length > 1 ? 'them' : 'it';
  if (!rest) return `UCS-2 because of ${forcing}: ${plural(analysis.segments)} (nothing but ${it})`;
  return `UCS-2 because of ${forcing}: ${plural(analysis.segments)} (${plural(analyzeSmsBody(rest).segments)} without ${it})`;
}

/** 409 for a batch that is no longer running, with its status. */
function batchConflict(batch: SmsBatch): ConflictException {
  return new ConflictException({ message: `Batch ${batch.id} is ${batch.status}`, currentStatus: batch.status });
}
