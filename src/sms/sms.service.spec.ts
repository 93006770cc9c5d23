import { EventEmitter2 } from '@nestjs/event-emitter';
import { Logger } from '@nestjs/common';
import { QueryFailedError } from 'typeorm';
import { AuditAction } from '../audit/audit-action.enum.js';
import type { AuditService } from '../audit/audit.service.js';
import type { Actor } from '../common/actor.js';
import type { AppConfig } from '../config/app-config.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { Role } from '../users/role.enum.js';
import { PhoneNumberService } from '../phone/phone-number.service.js';
import { SmsProviderError, type ProviderFailure, type ProviderReceipt, type SmsProvider } from './providers/sms-provider.js';
import { SmsKind, type SmsMessage } from './sms-message.entity.js';
import type { SmsMessageStore, SmsOutcome } from './sms-message.store.js';
import { SmsInputError, SmsSendError } from './sms.errors.js';
import { personalize, SmsService } from './sms.service.js';
import type { SmsContext } from './sms.types.js';
import { NOTIFICATION_TYPES } from './templates/notification-types.js';
import { SmsTemplateService } from './templates/sms-template.service.js';

const SENDER = '+33700000000';
const actor: Actor = { id: 'actor-1', email: 'admin@example.com', role: Role.Admin, ip: '203.0.113.7' };
const context: SmsContext = { actor };

const receipt = (sid: string, status = 'queued'): ProviderReceipt => ({ sid, status, from: SENDER });
const rejection = (failure: Partial<Extract<ProviderFailure, { kind: 'rejected' }>>) =>
  new SmsProviderError({ kind: 'rejected', message: 'Twilio refused', ...failure });

/** Valid, distinct French mobiles in national format, and their E.164 form. */
const mobile = (n: number) => `06123456${String(n).padStart(2, '0')}`;
const e164 = (n: number) => `+336123456${String(n).padStart(2, '0')}`;

/** Lets every pending promise chain (repository mocks, p-limit's queue) settle. */
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

describe(SmsService.name, () => {
  let sut: SmsService;
  let messages: { create: ReturnType<typeof vi.fn>; insert: ReturnType<typeof vi.fn>; update: ReturnType<typeof vi.fn> };
  let provider: { name: string; sender: string | null; send: ReturnType<typeof vi.fn> };
  let audit: { record: ReturnType<typeof vi.fn> };
  let config: { sms: { bulkMaxRecipients: number; bulkConcurrency: number } };
  let dedupe: ReturnType<typeof vi.fn>;
  let emitter: EventEmitter2;

  /** The row handed to insert() by the n-th dispatch. */
  const insertedRow = (n = 0) => messages.insert.mock.calls[n][0] as SmsMessage;

  beforeEach(() => {
    messages = {
      create: vi.fn((row: Partial<SmsMessage>) => row),
      insert: vi.fn().mockResolvedValue(undefined),
      update: vi.fn().mockResolvedValue(undefined),
    };
    provider = { name: 'fake', sender: SENDER, send: vi.fn().mockResolvedValue(receipt('SM-1')) };
    audit = { record: vi.fn().mockResolvedValue(undefined) };
    config = { sms: { bulkMaxRecipients: 10, bulkConcurrency: 4 } };
    // The store group-commits in production; here it forwards to the repository mock so each
    // dispatch's insert and outcome can be checked in order.
    const store = {
      insertPending: messages.insert,
      findByDedupeKey: vi.fn().mockResolvedValue(null),
      recordOutcome: vi.fn((id: string, outcome: SmsOutcome) => (messages.update as (...args: unknown[]) => unknown)({ id }, outcome)),
    };
    dedupe = store.findByDedupeKey;
    emitter = new EventEmitter2();
    sut = new SmsService(
      store as unknown as SmsMessageStore,
      provider as SmsProvider,
      new PhoneNumberService('FR'),
      new SmsTemplateService('Europe/Paris'),
      audit as unknown as AuditService,
      config as unknown as AppConfig,
      new MetricsService(),
      emitter,
    );
  });

  afterEach(() => {
    vi.useRealTimers();
    vi.restoreAllMocks();
  });

  describe('send', () => {
    it('should insert the message as pending before calling the provider', async () => {
      await sut.send('06 12 34 56 78', 'Bonjour', context);

      expect(messages.insert).toHaveBeenCalledTimes(1);
      expect(insertedRow()).toMatchObject({
        to: '+33612345678',
        from: SENDER,
        body: 'Bonjour',
        kind: SmsKind.Single,
        status: 'pending',
        provider: 'fake',
        templateType: null,
        batchId: null,
        actorId: 'actor-1',
        actorEmail: 'admin@example.com',
      });
      expect(messages.insert.mock.invocationCallOrder[0]).toBeLessThan(provider.send.mock.invocationCallOrder[0]);
    });

    it('should call the provider once with the E.164 number and the body', async () => {
      await sut.send('06 12 34 56 78', 'Bonjour', context);

      expect(provider.send).toHaveBeenCalledTimes(1);
      expect(provider.send).toHaveBeenCalledWith({ to: '+33612345678', body: 'Bonjour' });
    });

    it("should update the stored row with the provider's sid and status after the call", async () => {
      provider.send.mockResolvedValue(receipt('SM-42', 'accepted'));

      const result = await sut.send('0612345678', 'Bonjour', context);

      const { id } = insertedRow();
      expect(messages.update).toHaveBeenCalledTimes(1);
      expect(messages.update).toHaveBeenCalledWith(
        { id },
        expect.objectContaining({ status: 'accepted', providerSid: 'SM-42', from: SENDER }),
      );
      expect(provider.send.mock.invocationCallOrder[0]).toBeLessThan(messages.update.mock.invocationCallOrder[0]);
      expect(result).toMatchObject({ id, sid: 'SM-42', status: 'accepted', to: '+33612345678', provider: 'fake', segments: 1 });
    });

    it('should journal send_sms with the message id, the sid and no error', async () => {
      await sut.send('0612345678', 'Bonjour', context);

      const { id } = insertedRow();
      expect(audit.record).toHaveBeenCalledTimes(1);
      const entry = audit.record.mock.calls[0][0];
      expect(entry).toMatchObject({
        action: AuditAction.SendSms,
        actor,
        target: { type: 'sms_message', id },
        metadata: { messageId: id, to: '+33612345678', message: 'Bonjour', provider: 'fake', status: 'queued', sid: 'SM-1' },
      });
      expect(entry.metadata).not.toHaveProperty('errorCode');
      expect(entry.metadata).not.toHaveProperty('type');
    });

    it('should store and journal the related entity when the context names one', async () => {
      await sut.send('0612345678', 'Bonjour', { actor, related: { type: 'appointment', id: 'appt-1' } });

      expect(insertedRow()).toMatchObject({ relatedType: 'appointment', relatedId: 'appt-1' });
      expect(audit.record).toHaveBeenCalledWith(expect.objectContaining({ target: { type: 'appointment', id: 'appt-1' } }));
    });

    it('should mark the row failed with the Twilio code when the provider refuses', async () => {
      provider.send.mockRejectedValue(rejection({ code: 21610, status: 400, message: 'Attempt to send to unsubscribed recipient' }));

      await expect(sut.send('0612345678', 'Bonjour', context)).rejects.toBeInstanceOf(SmsSendError);

      const { id } = insertedRow();
      expect(messages.update).toHaveBeenCalledTimes(1);
      expect(messages.update).toHaveBeenCalledWith(
        { id },
        expect.objectContaining({ status: 'failed', errorCode: '21610', errorMessage: 'Attempt to send to unsubscribed recipient' }),
      );
    });

    it('should journal send_sms with the error code when the provider refuses', async () => {
      provider.send.mockRejectedValue(rejection({ code: 21610, status: 400, message: 'unsubscribed' }));

      await sut.send('0612345678', 'Bonjour', context).catch(() => undefined);

      expect(audit.record).toHaveBeenCalledTimes(1);
      expect(audit.record).toHaveBeenCalledWith(
        expect.objectContaining({
          action: AuditAction.SendSms,
          metadata: expect.objectContaining({ status: 'failed', sid: null, errorCode: '21610', error: 'unsubscribed' }),
        }),
      );
    });

    it('should throw SmsSendError carrying the stored message id and the failure', async () => {
      const failure = { kind: 'rejected', code: 21610, status: 400, message: 'unsubscribed' } as const;
      provider.send.mockRejectedValue(new SmsProviderError(failure));

      const error = await sut.send('0612345678', 'Bonjour', context).catch((e: unknown) => e);

      expect(error).toBeInstanceOf(SmsSendError);
      expect(error).toMatchObject({ messageId: insertedRow().id, to: '+33612345678', failure });
    });

    it('should store an unexpected provider error as a NETWORK failure and log it', async () => {
      const logError = vi.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
      provider.send.mockRejectedValue(new TypeError('socket hang up'));

      const error = await sut.send('0612345678', 'Bonjour', context).catch((e: unknown) => e);

      expect(error).toBeInstanceOf(SmsSendError);
      expect((error as SmsSendError).failure.kind).toBe('network');
      expect(messages.update).toHaveBeenCalledWith(
        { id: insertedRow().id },
        expect.objectContaining({ status: 'failed', errorCode: 'NETWORK' }),
      );
      expect(logError).toHaveBeenCalledWith(expect.stringContaining('socket hang up'));
    });

    it('should not retry a rate-limited single send', async () => {
      provider.send
        .mockRejectedValueOnce(rejection({ code: 20429, status: 429, retryAfterSeconds: 0 }))
        .mockResolvedValueOnce(receipt('SM-never'));

      const error = await sut.send('0612345678', 'Bonjour', context).catch((e: unknown) => e);

      expect(error).toBeInstanceOf(SmsSendError);
      expect(provider.send).toHaveBeenCalledTimes(1);
      expect(messages.update).toHaveBeenCalledWith(
        { id: insertedRow().id },
        expect.objectContaining({ status: 'failed', errorCode: '20429' }),
      );
    });

    it('should throw SmsInputError on field `to` for an invalid number, without storing nor calling the provider', async () => {
      const error = await sut.send('12345', 'Bonjour', context).catch((e: unknown) => e);

      expect(error).toBeInstanceOf(SmsInputError);
      expect((error as SmsInputError).field).toBe('to');
      expect(messages.insert).not.toHaveBeenCalled();
      expect(provider.send).not.toHaveBeenCalled();
      expect(audit.record).not.toHaveBeenCalled();
    });

    it('should throw SmsInputError on field `message` for a body over 1600 characters', async () => {
      const error = await sut.send('0612345678', 'a'.repeat(1601), context).catch((e: unknown) => e);

      expect(error).toBeInstanceOf(SmsInputError);
      expect((error as SmsInputError).field).toBe('message');
      expect(messages.insert).not.toHaveBeenCalled();
      expect(provider.send).not.toHaveBeenCalled();
    });

    it('should accept a body of exactly 1600 characters', async () => {
      await sut.send('0612345678', 'a'.repeat(1600), context);

      expect(provider.send).toHaveBeenCalledTimes(1);
    });
  });

  describe('sendNotification', () => {
    const data = { name: 'Jean Dupont', startsAt: '2024-01-15T14:30:00+01:00' };

    it('should send the rendered French template by default', async () => {
      await sut.sendNotification('0612345678', 'appointment_confirmed', data, context);

      expect(provider.send).toHaveBeenCalledWith({
        to: '+33612345678',
        body: 'Bonjour Jean Dupont, votre rendez-vous du lundi 15 janvier 2024 à 14:30 est confirmé.',
      });
    });

    it('should render in the context locale', async () => {
      await sut.sendNotification('0612345678', 'appointment_confirmed', data, { actor, locale: 'en' });

      expect(provider.send).toHaveBeenCalledWith({
        to: '+33612345678',
        body: 'Hello Jean Dupont, your appointment on Monday, January 15, 2024 at 2:30 PM is confirmed.',
      });
    });

    it('should store the template type and the locale, fr when none is given', async () => {
      await sut.sendNotification('0612345678', 'appointment_confirmed', data, context);
      await sut.sendNotification('0612345678', 'appointment_confirmed', data, { actor, locale: 'en' });

      expect(insertedRow(0)).toMatchObject({
        kind: SmsKind.Notification,
        templateType: 'appointment_confirmed',
        locale: 'fr',
        status: 'pending',
      });
      expect(insertedRow(1)).toMatchObject({ templateType: 'appointment_confirmed', locale: 'en' });
    });

    it('should journal send_notification_sms with the type and the locale', async () => {
      await sut.sendNotification('0612345678', 'appointment_confirmed', data, context);

      expect(audit.record).toHaveBeenCalledTimes(1);
      expect(audit.record).toHaveBeenCalledWith(
        expect.objectContaining({
          action: AuditAction.SendNotificationSms,
          metadata: expect.objectContaining({ type: 'appointment_confirmed', locale: 'fr', messageId: insertedRow().id }),
        }),
      );
    });

    it('should throw SmsInputError on field `type` listing the allowed types for an unknown type', async () => {
      const error = await sut.sendNotification('0612345678', 'birthday', data, context).catch((e: unknown) => e);

      expect(error).toBeInstanceOf(SmsInputError);
      expect(error).toMatchObject({ field: 'type', allowed: [...NOTIFICATION_TYPES] });
      expect(messages.insert).not.toHaveBeenCalled();
      expect(provider.send).not.toHaveBeenCalled();
      expect(audit.record).not.toHaveBeenCalled();
    });

    it('should throw SmsInputError on field `data.name` when the name is missing', async () => {
      const error = await sut
        .sendNotification('0612345678', 'appointment_confirmed', { startsAt: data.startsAt }, context)
        .catch((e: unknown) => e);

      expect(error).toBeInstanceOf(SmsInputError);
      expect((error as SmsInputError).field).toBe('data.name');
      expect(messages.insert).not.toHaveBeenCalled();
      expect(provider.send).not.toHaveBeenCalled();
    });

    it('should throw SmsInputError on field `locale` for an unsupported locale', async () => {
      const error = await sut
        .sendNotification('0612345678', 'appointment_confirmed', data, { actor, locale: 'de' })
        .catch((e: unknown) => e);

      expect(error).toMatchObject({ field: 'locale' });
      expect(provider.send).not.toHaveBeenCalled();
    });

    it('should throw SmsInputError on field `to` for an invalid number before rendering', async () => {
      const error = await sut.sendNotification('not a number', 'birthday', {}, context).catch((e: unknown) => e);

      expect(error).toBeInstanceOf(SmsInputError);
      expect((error as SmsInputError).field).toBe('to');
      expect(provider.send).not.toHaveBeenCalled();
    });
  });

  describe('dedupe key and sms.message.updated (outbox events)', () => {
    const keyed: SmsContext = { actor: null, related: { type: 'appointment', id: 'A-1' }, dedupeKey: 'event:E-1' };
    const stored = (over: Partial<SmsMessage>): SmsMessage =>
      ({
        id: 'M-1',
        to: '+33612345678',
        from: SENDER,
        body: 'Bonjour',
        provider: 'fake',
        status: 'queued',
        providerSid: 'SM-first',
        errorCode: null,
        errorMessage: null,
        ...over,
      }) as SmsMessage;

    it('should answer with the first message of a key already used, without calling the provider', async () => {
      dedupe.mockResolvedValueOnce(stored({}));
      const result = await sut.sendNotification(mobile(1), 'message_received', { name: 'Jean' }, keyed);
      expect(result).toMatchObject({ id: 'M-1', sid: 'SM-first', status: 'queued' });
      expect(dedupe).toHaveBeenCalledWith('event:E-1');
      expect(provider.send).not.toHaveBeenCalled();
      expect(messages.insert).not.toHaveBeenCalled();
    });

    it('should rethrow the first failure of a key already used', async () => {
      dedupe.mockResolvedValueOnce(stored({ status: 'failed', providerSid: null, errorCode: '21614', errorMessage: 'not mobile' }));
      await expect(sut.sendNotification(mobile(1), 'message_received', { name: 'Jean' }, keyed)).rejects.toMatchObject({
        constructor: SmsSendError,
        messageId: 'M-1',
        failure: { kind: 'rejected', code: 21614 },
      });
      expect(provider.send).not.toHaveBeenCalled();
    });

    it('should store the key, and answer with the winner when a concurrent send took it first', async () => {
      await sut.sendNotification(mobile(1), 'message_received', { name: 'Jean' }, keyed);
      expect(insertedRow().dedupeKey).toBe('event:E-1');

      messages.insert.mockRejectedValueOnce(new QueryFailedError('INSERT', [], Object.assign(new Error('dup'), { code: '23505' })));
      dedupe.mockResolvedValueOnce(null).mockResolvedValueOnce(stored({ id: 'M-winner', providerSid: 'SM-winner' }));
      const result = await sut.sendNotification(mobile(1), 'message_received', { name: 'Jean' }, keyed);
      expect(result).toMatchObject({ id: 'M-winner', sid: 'SM-winner' });
      expect(provider.send).toHaveBeenCalledTimes(1);
    });

    it('should emit sms.message.updated once the outcome is stored, failures included', async () => {
      const seen: unknown[] = [];
      emitter.on('sms.message.updated', (event: unknown) => {
        // The outcome is already stored when listeners hear about it.
        expect(messages.update).toHaveBeenCalled();
        seen.push(event);
      });
      await sut.sendNotification(mobile(1), 'appointment_reminder', { name: 'Jean', startsAt: '2030-01-15T13:30:00Z' }, keyed);
      provider.send.mockRejectedValueOnce(rejection({ code: 21614, status: 400 }));
      await expect(sut.send(mobile(2), 'Bonjour', context)).rejects.toBeInstanceOf(SmsSendError);
      expect(seen).toEqual([
        {
          messageId: expect.any(String),
          status: 'queued',
          relatedType: 'appointment',
          relatedId: 'A-1',
          templateType: 'appointment_reminder',
          at: expect.any(String),
        },
        expect.objectContaining({ status: 'failed', relatedType: null, templateType: null }),
      ]);
    });
  });

  describe('sendBulk', () => {
    it('should send once per number once normalised and report the others as duplicates', async () => {
      const result = await sut.sendBulk([{ phone: '0612345678' }, { phone: '+33 6 12 34 56 78' }], 'Bonjour', context);

      expect(provider.send).toHaveBeenCalledTimes(1);
      expect(messages.insert).toHaveBeenCalledTimes(1);
      expect(result.results.map((r) => [r.to, r.status])).toEqual([
        ['+33612345678', 'sent'],
        ['+33612345678', 'duplicate'],
      ]);
      expect(result).toMatchObject({ total: 2, sent: 1, duplicates: 1, failed: 0, invalid: 0 });
    });

    it('should report an invalid number for its recipient and still send to the others', async () => {
      const result = await sut.sendBulk([{ phone: 'abc' }, { phone: mobile(1) }], 'Bonjour', context);

      expect(provider.send).toHaveBeenCalledTimes(1);
      expect(provider.send).toHaveBeenCalledWith({ to: e164(1), body: 'Bonjour' });
      expect(result.results[0]).toMatchObject({ phone: 'abc', to: null, status: 'invalid', error: { code: 'NOT_A_NUMBER' } });
      expect(result.results[1]).toMatchObject({ to: e164(1), status: 'sent', sid: 'SM-1' });
      expect(result).toMatchObject({ total: 2, sent: 1, invalid: 1 });
    });

    it('should personalise {{name}} per recipient and tidy the text when there is no name', async () => {
      await sut.sendBulk([{ phone: mobile(1), name: 'Jean' }, { phone: mobile(2) }], 'Bonjour {{name}}, à demain.', context);

      expect(provider.send).toHaveBeenCalledWith({ to: e164(1), body: 'Bonjour Jean, à demain.' });
      expect(provider.send).toHaveBeenCalledWith({ to: e164(2), body: 'Bonjour, à demain.' });
    });

    it('should store every row as a bulk message of one batch', async () => {
      const result = await sut.sendBulk([{ phone: mobile(1) }, { phone: mobile(2) }], 'Bonjour', context);

      expect(messages.insert).toHaveBeenCalledTimes(2);
      for (const n of [0, 1]) expect(insertedRow(n)).toMatchObject({ kind: SmsKind.Bulk, batchId: result.batchId, status: 'pending' });
    });

    it('should refuse more recipients than the configured maximum on field `recipients`', async () => {
      config.sms.bulkMaxRecipients = 2;

      const error = await sut
        .sendBulk([{ phone: mobile(1) }, { phone: mobile(2) }, { phone: mobile(3) }], 'Bonjour', context)
        .catch((e: unknown) => e);

      expect(error).toBeInstanceOf(SmsInputError);
      expect((error as SmsInputError).field).toBe('recipients');
      expect(messages.insert).not.toHaveBeenCalled();
      expect(provider.send).not.toHaveBeenCalled();
      expect(audit.record).not.toHaveBeenCalled();
    });

    it('should accept exactly the configured maximum', async () => {
      config.sms.bulkMaxRecipients = 2;

      await sut.sendBulk([{ phone: mobile(1) }, { phone: mobile(2) }], 'Bonjour', context);

      expect(provider.send).toHaveBeenCalledTimes(2);
    });

    it('should never have more provider calls in flight than bulkConcurrency', async () => {
      config.sms.bulkConcurrency = 2;
      let inFlight = 0;
      let maxInFlight = 0;
      const release: (() => void)[] = [];
      provider.send.mockImplementation(
        ({ to }: { to: string }) =>
          new Promise<ProviderReceipt>((resolve) => {
            inFlight++;
            maxInFlight = Math.max(maxInFlight, inFlight);
            release.push(() => {
              inFlight--;
              resolve(receipt(`SM-${to}`));
            });
          }),
      );

      const bulk = sut.sendBulk(
        [1, 2, 3, 4, 5].map((n) => ({ phone: mobile(n) })),
        'Bonjour',
        context,
      );
      await flush();
      expect(provider.send).toHaveBeenCalledTimes(2);

      for (let started = 2; release.length;) {
        release.shift()!();
        await flush();
        started = Math.min(started + 1, 5);
        expect(provider.send).toHaveBeenCalledTimes(started);
      }
      const result = await bulk;

      expect(maxInFlight).toBe(2);
      expect(result.sent).toBe(5);
    });

    it('should retry a rate-limited provider call and record the send', async () => {
      vi.useFakeTimers();
      provider.send
        .mockRejectedValueOnce(rejection({ code: 20429, status: 429, retryAfterSeconds: 0 }))
        .mockResolvedValueOnce(receipt('SM-retried'));

      const bulk = sut.sendBulk([{ phone: mobile(1) }], 'Bonjour', context);
      await vi.runAllTimersAsync();
      const result = await bulk;

      expect(provider.send).toHaveBeenCalledTimes(2);
      expect(provider.send).toHaveBeenNthCalledWith(2, { to: e164(1), body: 'Bonjour' });
      expect(messages.insert).toHaveBeenCalledTimes(1);
      expect(messages.update).toHaveBeenCalledTimes(1);
      expect(messages.update).toHaveBeenCalledWith(
        { id: insertedRow().id },
        expect.objectContaining({ status: 'queued', providerSid: 'SM-retried' }),
      );
      expect(result.results[0]).toMatchObject({ status: 'sent', sid: 'SM-retried' });
    });

    it('should give up after two rate-limit retries and report the recipient failed', async () => {
      vi.useFakeTimers();
      provider.send.mockRejectedValue(rejection({ code: 20429, status: 429, retryAfterSeconds: 1 }));

      const bulk = sut.sendBulk([{ phone: mobile(1) }], 'Bonjour', context);
      await vi.runAllTimersAsync();
      const result = await bulk;

      expect(provider.send).toHaveBeenCalledTimes(3);
      expect(result.results[0]).toMatchObject({ status: 'failed', error: { code: '20429' } });
    });

    it('should not retry a bulk failure that is not a rate limit', async () => {
      provider.send.mockRejectedValue(rejection({ code: 21610, status: 400 }));

      const result = await sut.sendBulk([{ phone: mobile(1) }], 'Bonjour', context);

      expect(provider.send).toHaveBeenCalledTimes(1);
      expect(result.results[0]).toMatchObject({ status: 'failed', id: insertedRow().id, error: { code: '21610' } });
    });

    it('should stop calling the provider for the rest of the batch once credentials are refused (20003)', async () => {
      config.sms.bulkConcurrency = 1;
      provider.send.mockRejectedValueOnce(rejection({ code: 20003, status: 401, message: 'Authenticate' }));

      const result = await sut.sendBulk(
        [1, 2, 3].map((n) => ({ phone: mobile(n) })),
        'Bonjour',
        context,
      );

      expect(provider.send).toHaveBeenCalledTimes(1);
      expect(messages.insert).toHaveBeenCalledTimes(3);
      expect(messages.update).toHaveBeenCalledTimes(3);
      for (const n of [0, 1, 2]) {
        expect(messages.update).toHaveBeenCalledWith(
          { id: insertedRow(n).id },
          expect.objectContaining({ status: 'failed', errorCode: '20003' }),
        );
      }
      expect(result.results.map((r) => [r.status, r.error?.code])).toEqual([
        ['failed', '20003'],
        ['failed', '20003'],
        ['failed', '20003'],
      ]);
      expect(result).toMatchObject({ sent: 0, failed: 3 });
    });

    it('should journal exactly one send_bulk_sms entry with the counts', async () => {
      provider.send.mockResolvedValueOnce(receipt('SM-a')).mockRejectedValueOnce(rejection({ code: 21610, status: 400 }));
      config.sms.bulkConcurrency = 1;

      const result = await sut.sendBulk(
        [{ phone: mobile(1) }, { phone: mobile(2) }, { phone: 'abc' }, { phone: mobile(1) }],
        'Bonjour',
        context,
      );

      expect(audit.record).toHaveBeenCalledTimes(1);
      expect(audit.record).toHaveBeenCalledWith({
        action: AuditAction.SendBulkSms,
        actor,
        target: { type: 'sms_batch', id: result.batchId },
        metadata: {
          batchId: result.batchId,
          message: 'Bonjour',
          provider: 'fake',
          total: 4,
          sent: 1,
          failed: 1,
          invalid: 1,
          duplicates: 1,
          recipients: [
            { to: e164(1), status: 'sent', sid: 'SM-a', errorCode: undefined },
            { to: e164(2), status: 'failed', sid: undefined, errorCode: '21610' },
            { to: 'abc', status: 'invalid', sid: undefined, errorCode: 'NOT_A_NUMBER' },
            { to: e164(1), status: 'duplicate', sid: undefined, errorCode: undefined },
          ],
          recipientsTruncated: false,
        },
      });
      expect(result).toMatchObject({ total: 4, sent: 1, failed: 1, invalid: 1, duplicates: 1, segments: 1 });
    });
  });
});

describe('personalize', () => {
  it('should replace every {{name}} placeholder, spaced or not, with the trimmed name', () => {
    expect(personalize('Bonjour {{name}}, au revoir {{ name }}.', '  Jean ')).toBe('Bonjour Jean, au revoir Jean.');
  });

  it('should remove the placeholder and the space before punctuation when there is no name', () => {
    expect(personalize('Bonjour {{name}}, à demain.', undefined)).toBe('Bonjour, à demain.');
    expect(personalize('Merci {{name}}!', undefined)).toBe('Merci!');
  });

  it('should collapse the double space left by a placeholder in mid-sentence', () => {
    expect(personalize('Merci {{name}} pour votre visite', undefined)).toBe('Merci pour votre visite');
  });

  it('should treat a blank name as no name', () => {
    expect(personalize('Bonjour {{name}}, à demain.', '   ')).toBe('Bonjour, à demain.');
  });

  it('should leave a body without placeholder unchanged when a name is given', () => {
    expect(personalize('Rendez-vous confirmé !', 'Jean')).toBe('Rendez-vous confirmé !');
  });

  it('should insert a name containing replacement patterns literally', () => {
    expect(personalize('Bonjour {{name}}', 'A$&B')).toBe('Bonjour A$&B');
    expect(personalize('Bonjour {{name}}, à demain', "$'")).toBe("Bonjour $', à demain");
  });

  it('should only tidy around the removed placeholder', () => {
    expect(personalize('Confirmé ! Bonjour {{name}}.', undefined)).toBe('Confirmé ! Bonjour.');
  });
});
