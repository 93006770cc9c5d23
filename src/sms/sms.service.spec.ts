import type { Repository } from 'typeorm';
import type { AuditLog } from '../audit/audit-log.entity.js';
import type { AuditService } from '../audit/audit.service.js';
import type { AppConfig } from '../config/app-config.js';
import type { DispatchQueue } from './dispatch/dispatch-queue.js';
import type { SmsDispatcher } from './dispatch/sms-dispatcher.js';
import type { BulkMessages, SmsOutbox } from './dispatch/sms-outbox.js';
import { PhoneNumberService } from '../phone/phone-number.service.js';
import type { SmsProvider } from './providers/sms-provider.js';
import type { SmsBatch } from './sms-batch.entity.js';
import type { SmsBatchesService } from './sms-batches.service.js';
import { SmsInputError } from './sms-exceptions.js';
import type { SmsMessage } from './sms-message.entity.js';
import type { OptOutService } from './opt-outs/opt-out.service.js';
import type { MarketingPolicy } from './marketing/marketing-policy.js';
import { analyzeSmsBody } from './encoding/sms-encoding.js';
import { encodingNote, parseSendAt, SmsService } from './sms.service.js';
import type { SmsTemplateService } from './templates/sms-template.service.js';

describe('encodingNote', () => {
  const note = (body: string) => encodingNote(body, analyzeSmsBody(body));

  it('names the characters that force UCS-2 and what the text costs without them', () => {
    expect(note('Rappel : fête')).toBe('UCS-2 because of ê: 1 segment (1 segment without it)');
  });

  it('names a space or an invisible character by its code point (a no-break space, a zero-width joiner)', () => {
    expect(note('Bonjour\u00a0!')).toBe('UCS-2 because of U+00A0: 1 segment (1 segment without it)');
    expect(note('a\u200db')).toBe('UCS-2 because of U+200D: 1 segment (1 segment without it)');
  });

  it('says when nothing but those characters is left, not "0 segment"', () => {
    expect(note('你好')).toBe('UCS-2 because of 你 好: 1 segment (nothing but them)');
  });
});

describe('parseSendAt', () => {
  const now = new Date('2030-01-10T12:00:00Z');
  const problem = (value: string) => {
    try {
      parseSendAt(value, now);
    } catch (error) {
      expect(error).toBeInstanceOf(SmsInputError);
      expect((error as SmsInputError).field).toBe('sendAt');
      return (error as Error).message;
    }
    throw new Error('expected a refusal');
  };

  it('reads ISO 8601 with an offset, to the instant', () => {
    expect(parseSendAt('2030-01-15T14:30:00+01:00', now)?.toISOString()).toBe('2030-01-15T13:30:00.000Z');
    expect(parseSendAt('2030-01-15T14:30Z', now)?.toISOString()).toBe('2030-01-15T14:30:00.000Z');
    expect(parseSendAt('2030-01-15T14:30:00.250-05:00', now)?.toISOString()).toBe('2030-01-15T19:30:00.250Z');
    expect(parseSendAt(undefined, now)).toBeNull();
  });

  it('refuses no offset, impossible dates, the past, and more than 35 days ahead', () => {
    expect(problem('2030-01-15T14:30')).toMatch(/offset/);
    expect(problem('2030-01-15')).toMatch(/time and its offset/);
    expect(problem('2030-02-31T10:00:00Z')).toMatch(/not a real date/);
    expect(problem('2030-01-15T24:00:00Z')).toMatch(/not a real date/);
    expect(problem('2030-01-10T11:59:59Z')).toMatch(/future/);
    expect(problem('2030-02-14T12:00:01Z')).toMatch(/35 days/);
    expect(parseSendAt('2030-02-14T12:00:00Z', now)).toBeInstanceOf(Date);
  });
});

describe('SmsService.sendBulk', () => {
  const build = (allowedCountries: string[] | null = null) => {
    const outbox = {
      insertBulk: vi.fn().mockResolvedValue(undefined),
      insertStatement: vi.fn().mockReturnValue({ sql: 'INSERT audit', params: [] }),
    };
    const queue = { notify: vi.fn() };
    const audit = { toRow: vi.fn((entry: object) => ({ ...entry })) };
    const config = { sms: { bulkMaxRecipients: 5 }, dispatch: { sendWaitMs: 1000 } };
    const sut = new SmsService(
      outbox as unknown as SmsOutbox,
      {} as SmsDispatcher,
      {} as SmsBatchesService,
      queue as unknown as DispatchQueue,
      { name: 'twilio', sender: '+33700000000' } as unknown as SmsProvider,
      {} as Repository<AuditLog>,
      new PhoneNumberService('FR', allowedCountries),
      {} as SmsTemplateService,
      audit as unknown as AuditService,
      config as unknown as AppConfig,
      { check: vi.fn().mockResolvedValue(new Map()) } as unknown as OptOutService,
      {
        withMention: (body: string) => ({ body, appended: false }),
        notBefore: (_c: string, at?: Date | null) => at ?? null,
      } as unknown as MarketingPolicy,
    );
    return { sut, outbox, queue, audit };
  };

  it('writes one batch of personalised rows in one call, reports invalid and duplicate recipients by index, sends nothing', async () => {
    const { sut, outbox, queue, audit } = build();
    const accepted = await sut.sendBulk(
      [{ phone: '06 12 34 56 78', name: 'Jean' }, { phone: '+33612345678' }, { phone: '12' }, { phone: '0687654321' }],
      'Bonjour {{name}}',
      { actor: null },
    );
    expect(accepted).toMatchObject({ total: 4, queued: 2, status: 'running', notBefore: null });
    expect(accepted.duplicates).toEqual([{ index: 1, phone: '+33612345678', to: '+33612345678' }]);
    expect(accepted.invalid).toEqual([expect.objectContaining({ index: 2, phone: '12', code: 'TOO_SHORT' })]);
    expect(outbox.insertBulk).toHaveBeenCalledTimes(1);
    const [batch, shared, messages, extra] = outbox.insertBulk.mock.calls[0] as [SmsBatch, SmsMessage, BulkMessages, unknown[]];
    expect(batch).toMatchObject({ id: accepted.batchId, total: 4, queued: 2, invalid: 1, duplicates: 1, remaining: 2 });
    expect(shared).toMatchObject({ status: 'queued', kind: 'bulk', batchId: accepted.batchId, from: '+33700000000', attempts: 0 });
    expect(messages).toEqual({
      id: [expect.any(String), expect.any(String)],
      to: ['+33612345678', '+33687654321'],
      body: ['Bonjour Jean', 'Bonjour'],
      segments: [1, 1],
      encoding: ['GSM-7', 'GSM-7'],
    });
    expect(extra).toHaveLength(1);
    expect(audit.toRow).toHaveBeenCalledWith(
      expect.objectContaining({ metadata: expect.objectContaining({ phase: 'accepted', queued: 2 }) }),
    );
    expect(queue.notify).toHaveBeenCalledWith(messages.id.map((id) => ({ id, notBefore: null, bulk: true })));
  });

  it('refuses numbers of countries not in SMS_ALLOWED_COUNTRIES as invalid entries (each spelling), sending the others', async () => {
    const { sut, outbox } = build(['FR', 'RE']);
    const accepted = await sut.sendBulk(
      [{ phone: '+2348031234567' }, { phone: '0692 12 34 56' }, { phone: '+234 803 123 4567' }, { phone: '0612345678' }],
      'Bonjour',
      { actor: null },
    );
    const refused = 'phone: The number is of NG, and SMS go only to FR, RE (SMS_ALLOWED_COUNTRIES).';
    expect(accepted.invalid).toEqual([
      { index: 0, phone: '+2348031234567', name: undefined, code: 'COUNTRY_NOT_ALLOWED', message: refused },
      { index: 2, phone: '+234 803 123 4567', name: undefined, code: 'COUNTRY_NOT_ALLOWED', message: refused },
    ]);
    expect(accepted.duplicates).toEqual([]);
    const messages = outbox.insertBulk.mock.calls[0]![2] as BulkMessages;
    expect(messages.to).toEqual(['+262692123456', '+33612345678']);
  });

  it('refuses more recipients than the maximum on field recipients, writing nothing', async () => {
    const { sut, outbox } = build();
    const error = await sut
      .sendBulk(
        Array.from({ length: 6 }, () => ({ phone: '0612345678' })),
        'x',
        { actor: null },
      )
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SmsInputError);
    expect((error as SmsInputError).field).toBe('recipients');
    expect(outbox.insertBulk).not.toHaveBeenCalled();
  });

  it('refuses a placeholder other than {{name}} on field message, writing nothing', async () => {
    const { sut, outbox } = build();
    const error = await sut
      .sendBulk([{ phone: '0612345678', name: 'Zoë' }], 'Salut {{name}} et {{prenom}}', { actor: null })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SmsInputError);
    expect(error).toMatchObject({ field: 'message', message: expect.stringContaining('{{prenom}}') });
    expect(outbox.insertBulk).not.toHaveBeenCalled();
  });

  it('ends at once a batch in which nothing was valid', async () => {
    const { sut, outbox } = build();
    const accepted = await sut.sendBulk([{ phone: '12' }], 'x', { actor: null });
    expect(accepted).toMatchObject({ status: 'completed', queued: 0 });
    expect(outbox.insertBulk.mock.calls[0][0]).toMatchObject({ status: 'completed', finishedAt: expect.any(Date) });
  });
});

describe('SmsService.send with a dedupe key whose insert failed', () => {
  /** A COMMIT whose answer was lost (BoundedPgClient's mark): the row may be stored. */
  const lostCommit = () => Object.assign(new Error('Connection terminated unexpectedly'), { mayHaveStored: true });
  const refused = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
  const build = (optedOut = false) => {
    const outbox = { insert: vi.fn(), insertFinal: vi.fn(), findByDedupeKey: vi.fn() };
    const sut = new SmsService(
      outbox as unknown as SmsOutbox,
      {} as SmsDispatcher,
      {} as SmsBatchesService,
      { notify: vi.fn() } as unknown as DispatchQueue,
      { name: 'twilio', sender: '+33700000000' } as unknown as SmsProvider,
      {} as Repository<AuditLog>,
      new PhoneNumberService('FR'),
      {} as SmsTemplateService,
      {} as AuditService,
      { dispatch: { sendWaitMs: 1000 } } as unknown as AppConfig,
      {
        isOptedOut: vi.fn().mockResolvedValue(optedOut ? { phone: '+33612345678', optedOutAt: new Date(), source: 'keyword' } : null),
      } as unknown as OptOutService,
      {} as MarketingPolicy,
    );
    const send = () => sut.send('0612345678', 'Bonjour', { actor: null, dedupeKey: 'event:1' }).catch((e: unknown) => e);
    return { outbox, send };
  };

  it("keeps the insert's 'may have been stored' error when the look-up by dedupe key fails too", async () => {
    const { outbox, send } = build();
    outbox.findByDedupeKey.mockResolvedValueOnce(null).mockRejectedValueOnce(refused());
    const insertError = lostCommit();
    outbox.insert.mockRejectedValue(insertError);
    expect(await send()).toBe(insertError);
  });

  it("answers the look-up's error when the insert's stored nothing (another call's row won the key)", async () => {
    const { outbox, send } = build();
    const lookupError = refused();
    outbox.findByDedupeKey.mockResolvedValueOnce(null).mockRejectedValueOnce(lookupError);
    outbox.insert.mockRejectedValue(Object.assign(new Error('duplicate key value'), { code: '23505' }));
    expect(await send()).toBe(lookupError);
  });

  it('does the same for a send refused as opted out, whose skipped row may have been stored', async () => {
    const { outbox, send } = build(true);
    outbox.findByDedupeKey.mockResolvedValueOnce(null).mockRejectedValueOnce(refused());
    const insertError = lostCommit();
    outbox.insertFinal.mockRejectedValue(insertError);
    expect(await send()).toBe(insertError);
  });
});
