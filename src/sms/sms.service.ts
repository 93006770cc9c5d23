import { Inject, Injectable, Logger } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';
import { randomUUID } from 'node:crypto';
import pLimit from 'p-limit';
import { QueryFailedError } from 'typeorm';
import { AuditAction } from '../audit/audit-action.enum.js';
import { AuditService } from '../audit/audit.service.js';
import { describeError } from '../common/log-safe.js';
import { AppConfig } from '../config/app-config.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { analyzeSmsBody, MAX_SMS_BODY_LENGTH, type SmsBodyAnalysis } from './encoding/sms-encoding.js';
import { InvalidPhoneNumberError, PhoneNumberService } from '../phone/phone-number.service.js';
import { SMS_PROVIDER, SmsProviderError, type ProviderFailure, type ProviderReceipt, type SmsProvider } from './providers/sms-provider.js';
import { SMS_FAILED, SMS_PENDING, SmsKind, SmsMessage } from './sms-message.entity.js';
import { SmsMessageStore } from './sms-message.store.js';
import { SmsInputError, SmsSendError } from './sms.errors.js';
import { SMS_EVENTS, type SmsMessageUpdatedEvent } from './sms.events.js';
import type { BulkRecipient, BulkRecipientResult, BulkResult, SmsContext, SmsSendResult } from './sms.types.js';
import { SmsTemplateService, TemplateDataError } from './templates/sms-template.service.js';

/** Recipients whose summary goes into the bulk journal entry; the rest is in sms_messages by batch. */
const BULK_AUDIT_RECIPIENTS = 1000;
/** Bulk retries on Twilio rate limits (never on timeouts: the first try may have been sent). */
const BULK_RATE_LIMIT_RETRIES = 2;
const MAX_RETRY_WAIT_MS = 5000;

interface Draft {
  to: string;
  body: string;
  kind: SmsKind;
  templateType?: string;
  locale?: string;
  batchId?: string;
}

/**
 * The one public door for sending SMS: controllers and other modules (appointments, dossiers…)
 * inject this. Every attempt is stored as `pending` before the provider is called, then updated
 * with the provider's answer, and journaled.
 */
/** Every send is transactional until marketing batches exist (the `category` label of the metrics). */
const SMS_CATEGORY = 'transactional';

@Injectable()
export class SmsService {
  private readonly logger = new Logger(SmsService.name);

  constructor(
    private readonly store: SmsMessageStore,
    @Inject(SMS_PROVIDER) private readonly provider: SmsProvider,
    private readonly phones: PhoneNumberService,
    private readonly templates: SmsTemplateService,
    private readonly audit: AuditService,
    private readonly config: AppConfig,
    private readonly metrics: MetricsService,
    private readonly events: EventEmitter2,
  ) {}

  get providerName(): string {
    return this.provider.name;
  }

  /** A free-text SMS. Throws SmsInputError (bad number or body) or SmsSendError (provider). */
  async send(to: string, body: string, context: SmsContext): Promise<SmsSendResult> {
    const draft: Draft = { to: this.normalize(to, 'to'), body, kind: SmsKind.Single };
    return this.sendOne(draft, this.analyze(body, 'message'), context, AuditAction.SendSms);
  }

  /** A templated SMS of one of the notification types, in the context's locale (French by default). */
  async sendNotification(to: string, type: string, data: Record<string, unknown>, context: SmsContext): Promise<SmsSendResult> {
    const e164 = this.normalize(to, 'to');
    const body = this.render(type, data, context.locale);
    const draft: Draft = { to: e164, body, kind: SmsKind.Notification, templateType: type, locale: context.locale ?? 'fr' };
    return this.sendOne(draft, this.analyze(body, 'data'), context, AuditAction.SendNotificationSms);
  }

  /**
   * One message to many: `{{name}}` is personalised, numbers are deduplicated once normalised, an
   * invalid number is reported for its recipient without failing the others. Sends run with bounded
   * concurrency towards the provider. One journal entry for the batch.
   */
  async sendBulk(recipients: BulkRecipient[], body: string, context: SmsContext): Promise<BulkResult> {
    const max = this.config.sms.bulkMaxRecipients;
    if (recipients.length > max)
      throw new SmsInputError('recipients', `recipients must contain at most ${max} entries (got ${recipients.length})`);
    if (typeof body !== 'string' || body.trim() === '') throw new SmsInputError('message', 'message must contain text, not only spaces');
    const batchId = randomUUID();
    const seen = new Set<string>();
    const results: BulkRecipientResult[] = [];
    const toSend: { result: BulkRecipientResult; draft: Draft; analysis: SmsBodyAnalysis }[] = [];

    for (const recipient of recipients) {
      const result: BulkRecipientResult = { phone: recipient.phone, name: recipient.name, to: null, status: 'invalid' };
      results.push(result);
      const format = this.phones.formatRecipient(recipient.phone);
      if (!format.valid || !format.e164) {
        result.error = {
          code: format.reason?.code ?? 'INVALID_NUMBER',
          message: `phone ${JSON.stringify(recipient.phone)} ${format.reason?.message ?? 'is invalid'}`,
        };
        continue;
      }
      result.to = format.e164;
      if (seen.has(format.e164)) {
        result.status = 'duplicate';
        continue;
      }
      seen.add(format.e164);
      const personal = personalize(body, recipient.name);
      const analysis = analyzeSmsBody(personal);
      if (personal.length > MAX_SMS_BODY_LENGTH) {
        result.error = {
          code: 'BODY_TOO_LONG',
          message: `message is ${personal.length} characters once personalised (max ${MAX_SMS_BODY_LENGTH})`,
        };
        continue;
      }
      toSend.push({ result, analysis, draft: { to: format.e164, body: personal, kind: SmsKind.Bulk, batchId } });
    }

    const limit = pLimit(this.config.sms.bulkConcurrency);
    // Credentials refused: every further call would fail the same way, so stop calling.
    let fatal: ProviderFailure | null = null;
    await Promise.all(
      toSend.map(({ result, draft, analysis }) =>
        limit(async () => {
          try {
            const sent = await this.dispatch(draft, analysis, context, fatal);
            Object.assign(result, { status: 'sent', id: sent.id, sid: sent.sid, providerStatus: sent.status, segments: sent.segments });
          } catch (error) {
            if (!(error instanceof SmsSendError)) throw error;
            if (error.failure.kind === 'rejected' && error.failure.code === 20003) fatal = error.failure;
            Object.assign(result, {
              status: 'failed',
              id: error.messageId,
              segments: analysis.segments,
              error: { code: failureCode(error.failure), message: error.failure.message },
            });
          }
        }),
      ),
    );

    const count = (status: string) => results.filter((r) => r.status === status).length;
    const summary: BulkResult = {
      batchId,
      provider: this.provider.name,
      total: recipients.length,
      sent: count('sent'),
      failed: count('failed'),
      invalid: count('invalid'),
      duplicates: count('duplicate'),
      segments: results.reduce((sum, r) => sum + (r.status === 'sent' ? (r.segments ?? 0) : 0), 0),
      results,
    };
    await this.audit.record({
      action: AuditAction.SendBulkSms,
      actor: context.actor,
      target: { type: 'sms_batch', id: batchId },
      metadata: {
        batchId,
        message: body,
        provider: this.provider.name,
        total: summary.total,
        sent: summary.sent,
        failed: summary.failed,
        invalid: summary.invalid,
        duplicates: summary.duplicates,
        recipients: results
          .slice(0, BULK_AUDIT_RECIPIENTS)
          .map((r) => ({ to: r.to ?? r.phone, status: r.status, sid: r.sid, errorCode: r.error?.code })),
        recipientsTruncated: results.length > BULK_AUDIT_RECIPIENTS,
      },
    });
    return summary;
  }

  private async sendOne(draft: Draft, analysis: SmsBodyAnalysis, context: SmsContext, action: AuditAction): Promise<SmsSendResult> {
    const journal = (messageId: string, result?: SmsSendResult, failure?: ProviderFailure) =>
      this.audit.record({
        action,
        actor: context.actor,
        target: context.related ?? { type: 'sms_message', id: messageId },
        metadata: {
          messageId,
          to: draft.to,
          message: draft.body,
          ...(draft.templateType ? { type: draft.templateType, locale: draft.locale } : {}),
          provider: this.provider.name,
          status: result?.status ?? SMS_FAILED,
          sid: result?.sid ?? null,
          ...(failure ? { errorCode: failureCode(failure), error: failure.message } : {}),
        },
      });
    // --- dedupe (issue 8): a key already used gives its first message's outcome, never a second send ---
    if (context.dedupeKey) {
      const existing = await this.store.findByDedupeKey(context.dedupeKey);
      if (existing) return replayOutcome(existing);
    }
    try {
      return await this.dispatch(draft, analysis, context, null, journal);
    } catch (error) {
      // Two concurrent sends with one key: the unique index lets one row in; the other finds it.
      if (!context.dedupeKey || !isUniqueViolation(error)) throw error;
      const existing = await this.store.findByDedupeKey(context.dedupeKey);
      if (!existing) throw error;
      return replayOutcome(existing);
    }
    // --- end dedupe ---
  }

  // --- sms.message.updated (issue 8): other modules hear about a message's new state once it is stored ---
  private async announce(row: SmsMessage, status: string): Promise<void> {
    const event: SmsMessageUpdatedEvent = {
      messageId: row.id,
      status,
      relatedType: row.relatedType,
      relatedId: row.relatedId,
      templateType: row.templateType,
      at: new Date().toISOString(),
    };
    try {
      await this.events.emitAsync(SMS_EVENTS.messageUpdated, event);
    } catch (error) {
      // A listener's failure is its own: the send stands.
      this.logger.error(`A listener of ${SMS_EVENTS.messageUpdated} failed for message ${row.id}: ${describeError(error)}`);
    }
  }
  // --- end sms.message.updated ---

  /**
   * Stores the attempt, calls the provider, stores the answer. `abortWith` fails the attempt without
   * calling the provider (a bulk batch whose credentials were refused).
   */
  private async dispatch(
    draft: Draft,
    analysis: SmsBodyAnalysis,
    context: SmsContext,
    abortWith: ProviderFailure | null,
    /** Journals the outcome; written together with it (single sends; bulk journals once per batch). */
    journal?: (messageId: string, result?: SmsSendResult, failure?: ProviderFailure) => Promise<void>,
  ): Promise<SmsSendResult> {
    // A plain construction: repository.create() walks the entity metadata on every send.
    const row: SmsMessage = Object.assign(new SmsMessage(), {
      id: randomUUID(),
      to: draft.to,
      from: this.provider.sender,
      body: draft.body,
      kind: draft.kind,
      templateType: draft.templateType ?? null,
      locale: draft.locale ?? null,
      batchId: draft.batchId ?? null,
      relatedType: context.related?.type ?? null,
      relatedId: context.related?.id ?? null,
      provider: this.provider.name,
      status: SMS_PENDING,
      segments: analysis.segments,
      encoding: analysis.encoding,
      actorId: context.actor?.id ?? null,
      actorEmail: context.actor?.email ?? null,
      notBefore: null,
      leaseUntil: null,
      attempts: 0,
      dedupeKey: context.dedupeKey ?? null,
      // Millisecond times from here: SQLite's own default has whole seconds.
      createdAt: new Date(),
      updatedAt: new Date(),
    });
    await this.store.insertPending(row);
    this.metrics.smsStateChanged(row.kind, SMS_CATEGORY, SMS_PENDING);
    let receipt: ProviderReceipt;
    try {
      if (abortWith) throw new SmsProviderError(abortWith);
      receipt = await this.callProvider(draft);
    } catch (error) {
      const failure: ProviderFailure =
        error instanceof SmsProviderError ? error.failure : { kind: 'network', message: 'Unexpected error while calling the SMS provider' };
      if (!(error instanceof SmsProviderError)) this.logger.error(`SMS provider call failed unexpectedly: ${describeError(error)}`);
      const outcome = { status: SMS_FAILED, providerSid: null, from: null, errorCode: failureCode(failure), errorMessage: failure.message };
      await Promise.all([this.store.recordOutcome(row.id, outcome), journal?.(row.id, undefined, failure)]);
      this.metrics.smsStateChanged(row.kind, SMS_CATEGORY, SMS_FAILED);
      await this.announce(row, SMS_FAILED);
      throw new SmsSendError(failure, row.id, draft.to);
    }
    const result: SmsSendResult = {
      id: row.id,
      sid: receipt.sid,
      status: receipt.status,
      to: draft.to,
      from: receipt.from,
      segments: analysis.segments,
      encoding: analysis.encoding,
      ucs2Characters: analysis.ucs2Characters,
      ...(analysis.encoding === 'UCS-2' ? { encodingNote: encodingNote(draft.body, analysis) } : {}),
      provider: this.provider.name,
      body: draft.body,
    };
    const outcome = { status: receipt.status, providerSid: receipt.sid, from: receipt.from, errorCode: null, errorMessage: null };
    // The outcome and its journal entry are independent writes: issue them together.
    await Promise.all([this.store.recordOutcome(row.id, outcome), journal?.(row.id, result)]);
    this.metrics.smsStateChanged(row.kind, SMS_CATEGORY, receipt.status);
    await this.announce(row, receipt.status);
    return result;
  }

  /** Bulk sends wait and retry when Twilio rate-limits; single sends answer 503 + Retry-After at once. */
  private async callProvider(draft: Draft) {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.provider.send({ to: draft.to, body: draft.body });
      } catch (error) {
        const rateLimited =
          error instanceof SmsProviderError &&
          error.failure.kind === 'rejected' &&
          (error.failure.code === 20429 || error.failure.status === 429);
        if (!rateLimited || draft.kind !== SmsKind.Bulk || attempt >= BULK_RATE_LIMIT_RETRIES) throw error;
        const waitSeconds = (error.failure.kind === 'rejected' ? error.failure.retryAfterSeconds : undefined) ?? attempt + 1;
        this.metrics.retry('rate_limited');
        await new Promise((resolve) => setTimeout(resolve, Math.min(waitSeconds * 1000, MAX_RETRY_WAIT_MS)));
      }
    }
  }

  private normalize(phone: string, field: string): string {
    try {
      return this.phones.normalize(phone, { field, sms: true });
    } catch (error) {
      if (error instanceof InvalidPhoneNumberError) throw new SmsInputError(field, error.message);
      throw error;
    }
  }

  private render(type: string, data: Record<string, unknown>, locale?: string): string {
    try {
      return this.templates.render(type, data, locale);
    } catch (error) {
      if (!(error instanceof TemplateDataError)) throw error;
      const field = ['type', 'locale', 'data'].includes(error.field) ? error.field : `data.${error.field}`;
      throw new SmsInputError(field, error.message, error.allowed);
    }
  }

  private analyze(body: string, field: string): SmsBodyAnalysis {
    if (body.trim() === '') throw new SmsInputError(field, `${field} must contain text, not only spaces`);
    if (body.length > MAX_SMS_BODY_LENGTH) {
      throw new SmsInputError(field, `${field} is ${body.length} characters long; Twilio accepts at most ${MAX_SMS_BODY_LENGTH}`);
    }
    return analyzeSmsBody(body);
  }
}

// --- dedupe (issue 8) helpers ---
/** The outcome of a message already made under a dedupe key, as its first send answered (or failed). */
function replayOutcome(row: SmsMessage): SmsSendResult {
  if (row.status === SMS_FAILED) {
    const code = Number(row.errorCode);
    const failure: ProviderFailure =
      row.errorCode === 'TIMEOUT' || row.errorCode === 'NETWORK'
        ? { kind: row.errorCode === 'TIMEOUT' ? 'timeout' : 'network', message: row.errorMessage ?? 'SMS failed' }
        : { kind: 'rejected', code: Number.isFinite(code) ? code : undefined, message: row.errorMessage ?? 'SMS failed' };
    throw new SmsSendError(failure, row.id, row.to);
  }
  const analysis = analyzeSmsBody(row.body);
  return {
    id: row.id,
    sid: row.providerSid ?? '',
    status: row.status,
    to: row.to,
    from: row.from,
    segments: analysis.segments,
    encoding: analysis.encoding,
    ucs2Characters: analysis.ucs2Characters,
    ...(analysis.encoding === 'UCS-2' ? { encodingNote: encodingNote(row.body, analysis) } : {}),
    provider: row.provider,
    body: row.body,
  };
}

function isUniqueViolation(error: unknown): boolean {
  if (!(error instanceof QueryFailedError)) return false;
  const code = (error.driverError as { code?: string } | undefined)?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE';
}
// --- end dedupe helpers ---

/** `{{name}}` per recipient; without a name the placeholder and the spaces before it go. */
export function personalize(body: string, name: string | undefined): string {
  const value = name?.trim() ?? '';
  // A function, not a string: `$&` or `$'` in a name must not be read as replacement patterns.
  if (value) return body.replace(/\{\{\s*name\s*\}\}/g, () => value);
  return body.replace(/ *\{\{\s*name\s*\}\}/g, '').trimStart();
}

function failureCode(failure: ProviderFailure): string {
  return failure.kind === 'rejected' ? String(failure.code ?? failure.status ?? 'UNKNOWN') : failure.kind.toUpperCase();
}

/** E.g. "UCS-2 because of ê: 2 segments instead of 1 in GSM-7". */
function encodingNote(body: string, analysis: SmsBodyAnalysis): string {
  const forcing = analysis.ucs2Characters.join(' ');
  const withoutThem = analyzeSmsBody([...body].filter((ch) => !analysis.ucs2Characters.includes(ch)).join(''));
  const plural = (n: number) => `${n} segment${n > 1 ? 's' : ''}`;
  return `UCS-2 because of ${forcing}: ${plural(analysis.segments)} (${plural(withoutThem.segments)} without ${analysis.ucs2Characters.length > 1 ? 'them' : 'it'})`;
}
