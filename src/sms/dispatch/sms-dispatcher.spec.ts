import { Logger } from '@nestjs/common';
import type { EventEmitter2 } from '@nestjs/event-emitter';
import type { Clock } from '../../common/clock.js';
import type { RelatedRecords } from '../../common/related-records.js';
import type { AppConfig } from '../../config/app-config.js';
import { PhoneNumberService } from '../../phone/phone-number.service.js';
import { MarketingPolicy } from '../marketing/marketing-policy.js';
import { SendHours } from './send-hours.js';
import type { MetricsService } from '../../metrics/metrics.service.js';
import { SmsProviderError, type SmsProvider } from '../providers/sms-provider.js';
import { SmsKind, SmsMessage } from '../sms-message.entity.js';
import { SMS_EVENTS } from '../sms.events.js';
import type { OptOutService } from '../opt-outs/opt-out.service.js';
import type { DeliveryStatusService } from '../webhooks/delivery-status.service.js';
import { SmsDispatcher } from './sms-dispatcher.js';
import { ProviderCircuit } from './provider-circuit.js';
import type { SmsOutbox } from './sms-outbox.js';

const claimed = (overrides: Partial<SmsMessage> = {}): SmsMessage =>
  Object.assign(new SmsMessage(), {
    id: 'm-1',
    to: '+33612345678',
    from: '+33700000000',
    body: 'Bonjour',
    kind: SmsKind.Single,
    templateType: null,
    locale: null,
    batchId: null,
    relatedType: 'appointment',
    relatedId: 'a-1',
    provider: 'twilio',
    status: 'sending',
    providerSid: null,
    errorCode: null,
    errorMessage: null,
    attempts: 1,
    actorId: 'u-1',
    actorEmail: 'admin@example.test',
    actorRole: 'admin',
    createdAt: new Date('2030-01-01T10:00:00Z'),
    // A fresh claim (SMS_LEASE_MS 30 s).
    leaseUntil: new Date(Date.now() + 30_000),
    ...overrides,
  });

describe(SmsDispatcher.name, () => {
  let outbox: {
    settle: ReturnType<typeof vi.fn>;
    ownedSids: ReturnType<typeof vi.fn>;
    alikeInFlight: ReturnType<typeof vi.fn>;
    markBatchStarted: ReturnType<typeof vi.fn>;
    batchStatus: ReturnType<typeof vi.fn>;
    renewLease: ReturnType<typeof vi.fn>;
  };
  let provider: { name: string; sender: string; send: ReturnType<typeof vi.fn>; findSent: ReturnType<typeof vi.fn> };
  let events: { emit: ReturnType<typeof vi.fn> };
  let optOuts: { isOptedOut: ReturnType<typeof vi.fn>; optOut: ReturnType<typeof vi.fn> };
  let records: { whyOutdated: ReturnType<typeof vi.fn> };
  let circuit: ProviderCircuit;
  let now: Date;
  let sut: SmsDispatcher;
  /** SMS_ALLOWED_COUNTRIES as the dispatcher's PhoneNumberService holds it (a test sets it before rebuilding). */
  let allowedCountries: string[] | null = null;
  let build: () => SmsDispatcher;

  beforeEach(() => {
    outbox = {
      settle: vi.fn().mockResolvedValue({ applied: true }),
      ownedSids: vi.fn().mockResolvedValue(new Set()),
      alikeInFlight: vi.fn().mockResolvedValue(false),
      markBatchStarted: vi.fn().mockResolvedValue(undefined),
      batchStatus: vi.fn().mockResolvedValue('running'),
      renewLease: vi.fn().mockResolvedValue(true),
    };
    provider = {
      name: 'twilio',
      sender: '+33700000000',
      send: vi.fn().mockResolvedValue({ sid: 'SM-new', status: 'queued', from: '+33700000000' }),
      findSent: vi.fn().mockResolvedValue([]),
    };
    events = { emit: vi.fn() };
    const config = {
      dispatch: { maxAttempts: 3, retryBaseMs: 100, retryMaxMs: 1000, circuitResetMs: 60_000, leaseMs: 30_000 },
      twilio: { timeoutMs: 10_000 },
      marketing: { hours: 'Mon-Sat 08:00-20:00', holidaysCountry: 'FR', stopMention: 'STOP au 36111' },
      reminders: { quietHours: { startMinute: 21 * 60, endMinute: 8 * 60 } },
      defaultTimeZone: 'Europe/Paris',
    } as AppConfig;
    now = new Date('2026-03-13T19:59:00+01:00'); // a Friday, the marketing window still open
    const clock = { now: () => now } as Clock;
    optOuts = { isOptedOut: vi.fn().mockResolvedValue(null), optOut: vi.fn().mockResolvedValue({ created: true }) };
    records = { whyOutdated: vi.fn().mockResolvedValue(null) };
    allowedCountries = null;
    build = () =>
      new SmsDispatcher(
        outbox as unknown as SmsOutbox,
        provider as unknown as SmsProvider,
        events as unknown as EventEmitter2,
        config,
        { smsStateChanged: vi.fn(), retry: vi.fn() } as unknown as MetricsService,
        optOuts as unknown as OptOutService,
        { adoptEarlyCallbacks: vi.fn().mockResolvedValue(0) } as unknown as DeliveryStatusService,
        new SendHours(new MarketingPolicy(config, clock, new PhoneNumberService('FR')), config, clock, new PhoneNumberService('FR')),
        records as unknown as RelatedRecords,
        (circuit = new ProviderCircuit(config, { providerCircuit: vi.fn() } as unknown as MetricsService)),
        new PhoneNumberService('FR', allowedCountries),
      );
    sut = build();
  });

  afterEach(() => circuit.onApplicationShutdown());

  it('makes no call while the provider looks down: the claimed message is held until calls resume, not attempted', async () => {
    provider.send.mockRejectedValue(new SmsProviderError({ kind: 'rejected', status: 503, code: 20503, message: 'Service unavailable' }));
    for (let i = 0; i < 10; i++) await sut.process(claimed({ id: `m-down-${i}`, relatedType: null, relatedId: null }));
    expect(provider.send).toHaveBeenCalledTimes(10);
    outbox.settle.mockClear();

    const message = claimed({ id: 'm-after', relatedType: null, relatedId: null, errorCode: 'TIMEOUT' });
    const result = await sut.process(message);
    expect(result).toMatchObject({ final: false, held: true });
    // Neither sent nor looked up (its last outcome was unknown): Twilio is not called at all.
    expect(provider.send).toHaveBeenCalledTimes(10);
    expect(provider.findSent).not.toHaveBeenCalled();
    const [, attempt, settlement] = outbox.settle.mock.calls[0];
    expect(attempt).toBe(1);
    expect(settlement.kind).toBe('held');
    expect(settlement.notBefore.getTime() - Date.now()).toBeGreaterThan(55_000);
  });

  it('keeps calling when the failures are Twilio answering (a refused number), not an outage', async () => {
    provider.send.mockRejectedValue(new SmsProviderError({ kind: 'rejected', status: 400, code: 21211, message: "Invalid 'To'" }));
    for (let i = 0; i < 15; i++) await sut.process(claimed({ id: `m-bad-${i}`, relatedType: null, relatedId: null }));
    expect(provider.send).toHaveBeenCalledTimes(15);
  });

  it('drops a message whose record moved on since it was written (OUTDATED, the reason stored), before asking Twilio', async () => {
    records.whyOutdated.mockResolvedValue('Not sent: its appointment was moved since this SMS was written');
    const message = claimed({ relatedVersion: 'confirmed|2030-10-05T10:00:00.000Z|+33612345678' });
    expect(await sut.process(message)).toEqual({ final: true });
    expect(records.whyOutdated).toHaveBeenCalledWith('appointment', 'a-1', 'confirmed|2030-10-05T10:00:00.000Z|+33612345678');
    expect(provider.send).not.toHaveBeenCalled();
    expect(outbox.settle).toHaveBeenCalledWith(
      message,
      1,
      { kind: 'skipped', errorCode: 'OUTDATED', errorMessage: 'Not sent: its appointment was moved since this SMS was written' },
      expect.any(Date),
    );
  });

  it('asks nothing for a message without a version, and sends one whose record is as it was written for', async () => {
    await sut.process(claimed());
    expect(records.whyOutdated).not.toHaveBeenCalled();
    await sut.process(claimed({ relatedVersion: 'confirmed|2030-10-05T10:00:00.000Z|+33612345678' }));
    // Asked when claimed, and again right before the call (after the rate gate's wait).
    expect(records.whyOutdated).toHaveBeenCalledTimes(2);
    expect(provider.send).toHaveBeenCalledTimes(2);
  });

  it('looks an unknown outcome up before anything else: a message that already left is adopted, even if now outdated', async () => {
    records.whyOutdated.mockResolvedValue('Not sent: its appointment was cancelled');
    provider.findSent = vi.fn().mockResolvedValue([{ sid: 'SM-found', status: 'sent', from: '+33700000000' }]);
    outbox.ownedSids = vi.fn().mockResolvedValue(new Set());
    const message = claimed({ relatedVersion: 'v', attempts: 2, errorCode: 'TIMEOUT' });
    await sut.process(message);
    expect(outbox.settle).toHaveBeenCalledWith(message, 2, expect.objectContaining({ kind: 'sent', sid: 'SM-found' }), expect.any(Date));
    expect(provider.send).not.toHaveBeenCalled();
  });

  it('drops a message whose record moved on while it waited for the rate gate, before asking Twilio', async () => {
    const message = claimed({ relatedVersion: 'confirmed|2030-10-05T10:00:00.000Z|+33612345678' });
    await sut.process(message, async () => {
      records.whyOutdated.mockResolvedValue('Not sent: its appointment is cancelled now');
    });
    expect(provider.send).not.toHaveBeenCalled();
    expect(outbox.settle).toHaveBeenCalledWith(
      message,
      1,
      expect.objectContaining({ kind: 'skipped', errorCode: 'OUTDATED' }),
      expect.any(Date),
    );
  });

  it("does not adopt what it finds while another row with the same number and text is in flight (it may be the other row's message): held, asked again", async () => {
    provider.findSent = vi.fn().mockResolvedValue([{ sid: 'SM-sibling', status: 'queued', from: '+33700000000' }]);
    outbox.alikeInFlight = vi.fn().mockResolvedValue(true);
    const unknown = claimed({ attempts: 2, errorCode: 'TIMEOUT' });
    await sut.process(unknown);
    expect(outbox.alikeInFlight).toHaveBeenCalledWith(unknown);
    expect(outbox.settle).toHaveBeenCalledTimes(1);
    expect(outbox.settle).toHaveBeenCalledWith(unknown, 2, expect.objectContaining({ kind: 'held' }), expect.any(Date));
    expect(provider.send).not.toHaveBeenCalled();
  });

  it('looks a reminder with an unknown outcome up even in quiet hours: found, it is adopted, not dropped', async () => {
    now = new Date('2026-03-13T21:30:00+01:00');
    provider.findSent = vi.fn().mockResolvedValue([{ sid: 'SM-found', status: 'sent', from: '+33700000000' }]);
    outbox.ownedSids = vi.fn().mockResolvedValue(new Set());
    const reminder = claimed({ templateType: 'appointment_reminder', attempts: 2, errorCode: 'LEASE_EXPIRED' });
    await sut.process(reminder);
    expect(outbox.settle).toHaveBeenCalledWith(reminder, 2, expect.objectContaining({ kind: 'sent', sid: 'SM-found' }), expect.any(Date));
  });

  it('sends, stores the receipt for this attempt (its journal entry with it, in SmsOutbox), then emits sms.message.updated', async () => {
    expect(await sut.process(claimed())).toEqual({ final: true });
    expect(outbox.settle).toHaveBeenCalledWith(
      expect.objectContaining({ id: 'm-1' }),
      1,
      { kind: 'sent', sid: 'SM-new', status: 'queued', from: '+33700000000' },
      expect.any(Date),
    );
    expect(events.emit).toHaveBeenCalledWith(SMS_EVENTS.messageUpdated, {
      messageId: 'm-1',
      status: 'queued',
      relatedType: 'appointment',
      relatedId: 'a-1',
      templateType: null,
      at: expect.any(Date),
    });
    expect(outbox.settle.mock.invocationCallOrder[0]).toBeLessThan(events.emit.mock.invocationCallOrder[0]);
  });

  it('emits nothing in memory when the event was committed to the outbox with the final state', async () => {
    outbox.settle.mockResolvedValue({ applied: true, published: true });
    const signals: unknown[] = [];
    sut.settled.on('m-1', (m) => signals.push(m));
    expect(await sut.process(claimed())).toEqual({ final: true });
    expect(events.emit).not.toHaveBeenCalled();
    // The waiting request still hears of it.
    expect(signals).toEqual([expect.objectContaining({ id: 'm-1', providerSid: 'SM-new' })]);
  });

  it('reschedules a retryable failure with its code and a backoff', async () => {
    provider.send.mockRejectedValue(new SmsProviderError({ kind: 'rejected', code: 20500, status: 500, message: 'boom' }));
    const result = await sut.process(claimed());
    expect(result).toEqual({ final: false, retryAt: expect.any(Date) });
    expect(outbox.settle).toHaveBeenCalledWith(
      expect.anything(),
      1,
      expect.objectContaining({ kind: 'retry', errorCode: '20500' }),
      expect.any(Date),
    );
    expect(events.emit).not.toHaveBeenCalled();
  });

  it('fails for good on an error that will not change, telling local waiters the failure first', async () => {
    const failure = { kind: 'rejected' as const, code: 21211, status: 400, message: 'invalid' };
    provider.send.mockRejectedValue(new SmsProviderError(failure));
    const signals: unknown[] = [];
    sut.settled.on('failure', (id, f) => signals.push([id, f]));
    await sut.process(claimed());
    expect(signals).toEqual([['m-1', failure]]);
    expect(outbox.settle).toHaveBeenCalledWith(
      expect.anything(),
      1,
      { kind: 'failed', errorCode: '21211', errorMessage: 'invalid' },
      expect.any(Date),
    );
    expect(events.emit).toHaveBeenCalledWith(SMS_EVENTS.messageUpdated, expect.objectContaining({ status: 'failed' }));
  });

  it('adopts the message Twilio has when the previous outcome is unknown, without sending again', async () => {
    provider.findSent.mockResolvedValue([
      { sid: 'SM-taken', status: 'queued', from: null },
      { sid: 'SM-ours', status: 'sent', from: null },
    ]);
    outbox.ownedSids.mockResolvedValue(new Set(['SM-taken']));
    await sut.process(claimed({ errorCode: 'LEASE_EXPIRED', attempts: 2 }));
    expect(provider.findSent).toHaveBeenCalledWith({ to: '+33612345678', body: 'Bonjour', since: new Date('2030-01-01T10:00:00Z') });
    expect(provider.send).not.toHaveBeenCalled();
    expect(outbox.settle).toHaveBeenCalledWith(
      expect.anything(),
      2,
      expect.objectContaining({ kind: 'sent', sid: 'SM-ours' }),
      expect.any(Date),
    );
  });

  it('says in the log that a message left mid-send by a stopped worker was found at Twilio, or not and sent now (not for a timeout)', async () => {
    const warn = vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    onTestFinished(() => warn.mockRestore());
    const taken = () => warn.mock.calls.map(([line]) => String(line)).filter((line) => line.includes('stopped worker'));
    provider.findSent.mockResolvedValue([{ sid: 'SM-ours', status: 'sent', from: null }]);
    outbox.ownedSids.mockResolvedValue(new Set());
    await sut.process(claimed({ errorCode: 'LEASE_EXPIRED', attempts: 2 }));
    expect(taken()).toEqual(['An SMS left mid-send by a stopped worker (lease expired) was at Twilio: stored as sent, not sent again']);
    provider.findSent.mockResolvedValue([]);
    await sut.process(claimed({ errorCode: 'LEASE_EXPIRED', attempts: 2 }));
    expect(provider.send).toHaveBeenCalledTimes(1);
    expect(taken()[1]).toBe('An SMS left mid-send by a stopped worker (lease expired) was not at Twilio: sent now');
    await sut.process(claimed({ errorCode: 'TIMEOUT', attempts: 2 }));
    expect(taken()).toHaveLength(2);
    // Not at Twilio, but not sent either (the number opted out meanwhile): nothing said of a send.
    optOuts.isOptedOut.mockResolvedValue({ phone: '+33612345678', optedOutAt: new Date('2026-03-12T09:30:00Z'), source: 'keyword' });
    await sut.process(claimed({ errorCode: 'LEASE_EXPIRED', attempts: 2 }));
    expect(provider.send).toHaveBeenCalledTimes(2);
    expect(taken()).toHaveLength(2);
  });

  it('skips at claim time a message whose number SMS_ALLOWED_COUNTRIES refuses now (set after it was accepted)', async () => {
    circuit.onApplicationShutdown();
    allowedCountries = ['BE'];
    sut = build();
    expect(await sut.process(claimed({ kind: SmsKind.Bulk, relatedType: null, relatedId: null }))).toEqual({ final: true });
    expect(provider.send).not.toHaveBeenCalled();
    expect(outbox.settle).toHaveBeenCalledWith(
      expect.anything(),
      1,
      {
        kind: 'skipped',
        errorCode: 'COUNTRY_NOT_ALLOWED',
        errorMessage: 'The number is of FR, and SMS go only to BE (SMS_ALLOWED_COUNTRIES).',
      },
      expect.any(Date),
    );
    // Allowed: it goes.
    circuit.onApplicationShutdown();
    allowedCountries = ['FR'];
    sut = build();
    await sut.process(claimed({ kind: SmsKind.Bulk, relatedType: null, relatedId: null }));
    expect(provider.send).toHaveBeenCalledTimes(1);
  });

  it('adopts the next message found when another row (same number and text) adopted the first one meanwhile; sends when none is left', async () => {
    provider.findSent.mockResolvedValue([
      { sid: 'SM-first', status: 'sent', from: null },
      { sid: 'SM-second', status: 'sent', from: null },
    ]);
    outbox.ownedSids.mockResolvedValueOnce(new Set()).mockResolvedValueOnce(new Set(['SM-first']));
    outbox.settle.mockResolvedValueOnce({ applied: false, sidTaken: true });
    expect(await sut.process(claimed({ errorCode: 'TIMEOUT', attempts: 2 }))).toEqual({ final: true });
    expect(outbox.settle.mock.calls.map(([, , settlement]) => [settlement.kind, settlement.sid, settlement.adopted])).toEqual([
      ['sent', 'SM-first', true],
      ['sent', 'SM-second', true],
    ]);
    expect(provider.send).not.toHaveBeenCalled();

    // The only message found went to the other row: this row's own is not at Twilio, so it is sent.
    outbox.settle.mockClear();
    provider.findSent.mockResolvedValue([{ sid: 'SM-only', status: 'sent', from: null }]);
    outbox.ownedSids.mockResolvedValueOnce(new Set()).mockResolvedValueOnce(new Set(['SM-only']));
    outbox.settle.mockResolvedValueOnce({ applied: false, sidTaken: true });
    expect(await sut.process(claimed({ id: 'm-2', errorCode: 'TIMEOUT', attempts: 2 }))).toEqual({ final: true });
    expect(provider.send).toHaveBeenCalledTimes(1);
    expect(outbox.settle.mock.calls.at(-1)![2]).toMatchObject({ kind: 'sent', sid: 'SM-new' });
  });

  it('sends when the look-up finds nothing', async () => {
    await sut.process(claimed({ errorCode: 'TIMEOUT', attempts: 2 }));
    expect(provider.findSent).toHaveBeenCalled();
    expect(provider.send).toHaveBeenCalledTimes(1);
  });

  it('a message cancelled while its outcome was unknown: looked up, adopted if Twilio has it, else stored cancelled, never sent again', async () => {
    const asked = { cancelRequestedAt: new Date('2030-01-01T10:05:00Z'), errorCode: 'TIMEOUT', errorMessage: 'timeout', attempts: 2 };
    provider.findSent.mockResolvedValueOnce([{ sid: 'SM-went', status: 'sent', from: null }]);
    expect(await sut.process(claimed(asked))).toEqual({ final: true });
    expect(outbox.settle).toHaveBeenLastCalledWith(
      expect.anything(),
      2,
      expect.objectContaining({ kind: 'sent', sid: 'SM-went' }),
      expect.any(Date),
    );

    const waiter = vi.fn();
    sut.settled.on('m-1', waiter);
    expect(await sut.process(claimed(asked))).toEqual({ final: true });
    expect(outbox.settle).toHaveBeenLastCalledWith(
      expect.anything(),
      2,
      { kind: 'cancelled', errorCode: 'TIMEOUT', errorMessage: 'timeout; cancelled, not at Twilio' },
      expect.any(Date),
    );
    // Its event and waiters say cancelled.
    expect(waiter).toHaveBeenCalledWith(expect.objectContaining({ status: 'cancelled' }));
    expect(events.emit).toHaveBeenCalledWith(SMS_EVENTS.messageUpdated, expect.objectContaining({ messageId: 'm-1', status: 'cancelled' }));
    // Past its last attempt too: cancelled (what was asked), not failed.
    expect(await sut.process(claimed({ ...asked, attempts: 4, errorCode: 'CONNECTION_LOST', errorMessage: 'socket hang up' }))).toEqual({
      final: true,
    });
    expect(outbox.settle).toHaveBeenLastCalledWith(
      expect.anything(),
      4,
      { kind: 'cancelled', errorCode: 'CONNECTION_LOST', errorMessage: 'socket hang up; cancelled, not at Twilio' },
      expect.any(Date),
    );
    expect(provider.findSent).toHaveBeenCalledTimes(3);
    expect(provider.send).not.toHaveBeenCalled();
  });

  it('a message cancelled while its outcome was unknown that Twilio cannot be asked about: waits, then, with no attempt left, ends cancelled (not failed)', async () => {
    provider.findSent.mockRejectedValue(new SmsProviderError({ kind: 'rejected', code: 20003, status: 401, message: 'Authenticate' }));
    const asked = { cancelRequestedAt: new Date(), errorCode: 'TIMEOUT', errorMessage: 'timeout' };
    expect(await sut.process(claimed({ ...asked, attempts: 2 }))).toMatchObject({ final: false });
    expect(outbox.settle).toHaveBeenLastCalledWith(
      expect.anything(),
      2,
      expect.objectContaining({ kind: 'retry', errorCode: 'TIMEOUT' }),
      expect.any(Date),
    );
    expect(await sut.process(claimed({ ...asked, attempts: 4 }))).toEqual({ final: true });
    expect(outbox.settle).toHaveBeenLastCalledWith(
      expect.anything(),
      4,
      { kind: 'cancelled', errorCode: 'TIMEOUT', errorMessage: 'Outcome unknown; look-up failed: Authenticate; cancelled' },
      expect.any(Date),
    );
    // Not asked to stop: failed, as before.
    expect(await sut.process(claimed({ errorCode: 'TIMEOUT', errorMessage: 'timeout', attempts: 4 }))).toEqual({ final: true });
    expect(outbox.settle).toHaveBeenLastCalledWith(expect.anything(), 4, expect.objectContaining({ kind: 'failed' }), expect.any(Date));
    expect(provider.send).not.toHaveBeenCalled();
  });

  it("a batch's message whose worker died, the batch cancelled meanwhile: not at Twilio, it ends cancelled; in a running batch it is sent", async () => {
    const abandoned = {
      batchId: 'b-1',
      kind: SmsKind.Bulk,
      errorCode: 'LEASE_EXPIRED',
      errorMessage: null,
      attempts: 2,
      relatedType: null,
      relatedId: null,
    };
    outbox.batchStatus.mockResolvedValueOnce('cancelled');
    expect(await sut.process(claimed(abandoned))).toEqual({ final: true });
    expect(outbox.batchStatus).toHaveBeenCalledWith('b-1');
    expect(outbox.settle).toHaveBeenLastCalledWith(
      expect.anything(),
      2,
      { kind: 'cancelled', errorCode: 'LEASE_EXPIRED', errorMessage: 'LEASE_EXPIRED; cancelled, not at Twilio' },
      expect.any(Date),
    );
    expect(provider.send).not.toHaveBeenCalled();
    await sut.process(claimed(abandoned));
    expect(provider.send).toHaveBeenCalledTimes(1);
  });

  it('neither sends nor gives up when Twilio cannot be asked: tries again later, still marked unknown', async () => {
    provider.findSent.mockRejectedValue(new SmsProviderError({ kind: 'rejected', code: 20500, status: 500, message: 'down' }));
    const result = await sut.process(claimed({ errorCode: 'CONNECTION_LOST', attempts: 2 }));
    expect(result).toMatchObject({ final: false });
    expect(provider.send).not.toHaveBeenCalled();
    expect(outbox.settle).toHaveBeenCalledWith(
      expect.anything(),
      2,
      expect.objectContaining({ kind: 'retry', errorCode: 'CONNECTION_LOST' }),
      expect.any(Date),
    );
  });

  it('a last attempt whose outcome is unknown is not resent, and looked up once more a timeout later, not at once', async () => {
    provider.send.mockRejectedValue(new SmsProviderError({ kind: 'timeout', message: 'timeout' }));
    const before = Date.now();
    expect(await sut.process(claimed({ attempts: 3 }))).toMatchObject({ final: false });
    expect(provider.findSent).not.toHaveBeenCalled();
    const [, attempt, settlement] = outbox.settle.mock.calls[0] as [unknown, number, { kind: string; notBefore: Date; errorCode: string }];
    expect(attempt).toBe(3);
    expect(settlement).toMatchObject({ kind: 'retry', errorCode: 'TIMEOUT' });
    // No sooner than TWILIO_TIMEOUT_MS (10 s here): a message Twilio was still creating is listed by then.
    expect(settlement.notBefore.getTime()).toBeGreaterThanOrEqual(before + 10_000);
  });

  it('that look-up (past the last attempt) adopts the message Twilio has, or marks it failed without resending it', async () => {
    provider.findSent.mockResolvedValueOnce([{ sid: 'SM-late', status: 'queued', from: null }]);
    expect(await sut.process(claimed({ attempts: 4, errorCode: 'TIMEOUT', errorMessage: 'timeout' }))).toEqual({ final: true });
    expect(outbox.settle).toHaveBeenLastCalledWith(
      expect.anything(),
      4,
      expect.objectContaining({ kind: 'sent', sid: 'SM-late' }),
      expect.any(Date),
    );
    expect(await sut.process(claimed({ attempts: 4, errorCode: 'TIMEOUT', errorMessage: 'timeout' }))).toEqual({ final: true });
    expect(outbox.settle).toHaveBeenLastCalledWith(
      expect.anything(),
      4,
      { kind: 'failed', errorCode: 'TIMEOUT', errorMessage: 'timeout; not at Twilio, no attempt left' },
      expect.any(Date),
    );
    // No failure signal of its own: a waiting request answers from the stored code (TIMEOUT, CONNECTION_LOST…).
    const signals = vi.spyOn(sut.settled, 'emit');
    expect(await sut.process(claimed({ attempts: 4, errorCode: 'CONNECTION_LOST', errorMessage: 'socket hang up' }))).toEqual({
      final: true,
    });
    expect(outbox.settle).toHaveBeenLastCalledWith(
      expect.anything(),
      4,
      { kind: 'failed', errorCode: 'CONNECTION_LOST', errorMessage: 'socket hang up; not at Twilio, no attempt left' },
      expect.any(Date),
    );
    expect(signals).not.toHaveBeenCalledWith('failure', expect.anything(), expect.anything());
    expect(provider.send).not.toHaveBeenCalled();
  });

  it('SMS_OUTAGE_RETRY_MS: past its last attempt, a message Twilio failed by being down is retried, and sent again once not found at Twilio', async () => {
    Object.assign(sut['retry'], { outageRetryMs: 3_600_000 });
    const minutesAgo = (minutes: number) => new Date(Date.now() - minutes * 60_000);
    provider.send.mockRejectedValueOnce(
      new SmsProviderError({ kind: 'rejected', status: 503, code: 20503, message: 'Service unavailable' }),
    );
    expect(await sut.process(claimed({ attempts: 3, firstAttemptAt: minutesAgo(5) }))).toMatchObject({ final: false });
    expect(outbox.settle).toHaveBeenLastCalledWith(
      expect.anything(),
      3,
      expect.objectContaining({ kind: 'retry', errorCode: '20503' }),
      expect.any(Date),
    );

    // Its last call timed out: looked up, not at Twilio, sent again (the outage has not lasted an hour).
    expect(
      await sut.process(claimed({ attempts: 6, errorCode: 'TIMEOUT', errorMessage: 'timeout', firstAttemptAt: minutesAgo(30) })),
    ).toEqual({
      final: true,
    });
    expect(provider.findSent).toHaveBeenCalledTimes(1);
    expect(outbox.settle).toHaveBeenLastCalledWith(
      expect.anything(),
      6,
      expect.objectContaining({ kind: 'sent', sid: 'SM-new' }),
      expect.any(Date),
    );

    // An hour after its first attempt, the attempts count again: failed, not resent.
    provider.send.mockClear();
    expect(
      await sut.process(claimed({ attempts: 7, errorCode: 'TIMEOUT', errorMessage: 'timeout', firstAttemptAt: minutesAgo(61) })),
    ).toEqual({
      final: true,
    });
    expect(provider.send).not.toHaveBeenCalled();
    expect(outbox.settle).toHaveBeenLastCalledWith(
      expect.anything(),
      7,
      { kind: 'failed', errorCode: 'TIMEOUT', errorMessage: 'timeout; not at Twilio, no attempt left' },
      expect.any(Date),
    );
    provider.send.mockRejectedValueOnce(
      new SmsProviderError({ kind: 'rejected', status: 503, code: 20503, message: 'Service unavailable' }),
    );
    expect(await sut.process(claimed({ attempts: 3, firstAttemptAt: minutesAgo(61) }))).toEqual({ final: true });
    expect(outbox.settle).toHaveBeenLastCalledWith(
      expect.anything(),
      3,
      expect.objectContaining({ kind: 'failed', errorCode: '20503' }),
      expect.any(Date),
    );

    // A lease that ran out is a worker that died or stalled, not Twilio down: past its attempts, it fails.
    provider.send.mockClear();
    expect(
      await sut.process(claimed({ attempts: 4, errorCode: 'LEASE_EXPIRED', errorMessage: 'lease expired', firstAttemptAt: minutesAgo(5) })),
    ).toEqual({ final: true });
    expect(provider.send).not.toHaveBeenCalled();
    expect(outbox.settle).toHaveBeenLastCalledWith(
      expect.anything(),
      4,
      expect.objectContaining({ kind: 'failed', errorCode: 'LEASE_EXPIRED' }),
      expect.any(Date),
    );

    // A look-up Twilio refuses (a 401, not an outage) uses the attempts up; one it fails with a 5xx is asked again later,
    // no attempt used (the claim given back: held).
    provider.findSent.mockRejectedValueOnce(new SmsProviderError({ kind: 'rejected', status: 401, code: 20003, message: 'Authenticate' }));
    expect(
      await sut.process(claimed({ attempts: 4, errorCode: 'TIMEOUT', errorMessage: 'timeout', firstAttemptAt: minutesAgo(5) })),
    ).toEqual({
      final: true,
    });
    expect(outbox.settle).toHaveBeenLastCalledWith(
      expect.anything(),
      4,
      expect.objectContaining({ kind: 'failed', errorCode: 'TIMEOUT' }),
      expect.any(Date),
    );
    provider.findSent.mockRejectedValueOnce(
      new SmsProviderError({ kind: 'rejected', status: 503, code: 20503, message: 'Service unavailable' }),
    );
    expect(
      await sut.process(claimed({ attempts: 4, errorCode: 'TIMEOUT', errorMessage: 'timeout', firstAttemptAt: minutesAgo(5) })),
    ).toMatchObject({
      final: false,
      held: true,
    });
    expect(outbox.settle).toHaveBeenLastCalledWith(expect.anything(), 4, { kind: 'held', notBefore: expect.any(Date) }, expect.any(Date));
    expect(provider.send).not.toHaveBeenCalled();
  });

  it('a look-up Twilio does not answer (429, 5xx, timeout) uses no attempt: asked again later (Retry-After, backoff) until SMS_OUTAGE_RETRY_MS', async () => {
    Object.assign(sut['retry'], { outageRetryMs: 3_600_000 });
    const secondsAgo = (seconds: number) => new Date(Date.now() - seconds * 1000);
    const unknown = { errorCode: 'CONNECTION_LOST', errorMessage: 'socket hang up', relatedType: null, relatedId: null };
    const rateLimited = new SmsProviderError({
      kind: 'rejected',
      status: 429,
      code: 20429,
      message: 'Too Many Requests',
      retryAfterSeconds: 30,
    });
    // Its last attempt (3 of 3) was lost, its look-up rate limited: neither failed nor sent, its claim given back.
    provider.findSent.mockRejectedValueOnce(rateLimited);
    const before = Date.now();
    expect(await sut.process(claimed({ ...unknown, attempts: 3, firstAttemptAt: secondsAgo(12) }))).toMatchObject({
      final: false,
      held: true,
    });
    let [, attempt, settlement] = outbox.settle.mock.calls.at(-1)!;
    expect(attempt).toBe(3);
    expect(settlement.kind).toBe('held');
    // Twilio's Retry-After (30 s), more than the backoff and TWILIO_TIMEOUT_MS (10 s).
    expect(settlement.notBefore.getTime()).toBeGreaterThanOrEqual(before + 30_000);

    // A timeout or a 503: the same; the wait grows with the time since its first attempt (capped by SMS_RETRY_MAX_MS).
    for (const failure of [
      new SmsProviderError({ kind: 'timeout', message: 'timeout' }),
      new SmsProviderError({ kind: 'rejected', status: 503, code: 20503, message: 'Service unavailable' }),
    ]) {
      provider.findSent.mockRejectedValueOnce(failure);
      expect(await sut.process(claimed({ ...unknown, attempts: 3, firstAttemptAt: secondsAgo(600) }))).toMatchObject({ held: true });
      [, attempt, settlement] = outbox.settle.mock.calls.at(-1)!;
      expect([attempt, settlement.kind]).toEqual([3, 'held']);
    }

    // Then Twilio answers: found, adopted (its attempts were not used up by the look-ups).
    provider.findSent.mockResolvedValueOnce([{ sid: 'SM-was-there', status: 'delivered', from: null }]);
    expect(await sut.process(claimed({ ...unknown, attempts: 3, firstAttemptAt: secondsAgo(60) }))).toEqual({ final: true });
    expect(outbox.settle).toHaveBeenLastCalledWith(
      expect.anything(),
      3,
      expect.objectContaining({ kind: 'sent', sid: 'SM-was-there' }),
      expect.any(Date),
    );

    // Past SMS_OUTAGE_RETRY_MS, the attempts are the limit again: failed, never resent.
    provider.findSent.mockRejectedValueOnce(rateLimited);
    expect(await sut.process(claimed({ ...unknown, attempts: 3, firstAttemptAt: secondsAgo(3601) }))).toEqual({ final: true });
    expect(outbox.settle).toHaveBeenLastCalledWith(
      expect.anything(),
      3,
      { kind: 'failed', errorCode: 'CONNECTION_LOST', errorMessage: 'Outcome unknown; look-up failed: Too Many Requests' },
      expect.any(Date),
    );
    expect(provider.send).not.toHaveBeenCalled();
  });

  it('does nothing more when its lease was lost (another worker owns the row)', async () => {
    outbox.settle.mockResolvedValue({ applied: false });
    expect(await sut.process(claimed())).toEqual({ final: false, lostLease: true });
    expect(events.emit).not.toHaveBeenCalled();
  });

  it('a bulk message marks its batch started; the last one ends it in its settlement (journal entry included, in SmsOutbox)', async () => {
    outbox.settle.mockResolvedValue({ applied: true, finishedBatchId: 'b-1' });
    expect(await sut.process(claimed({ kind: SmsKind.Bulk, batchId: 'b-1' }))).toEqual({ final: true });
    expect(outbox.markBatchStarted).toHaveBeenCalledWith('b-1');
    expect(outbox.settle).toHaveBeenCalledTimes(1);
  });

  it('waits for the rate gate right before calling the provider', async () => {
    const order: string[] = [];
    provider.send.mockImplementation(async () => {
      order.push('send');
      return { sid: 'SM', status: 'queued', from: null };
    });
    await sut.process(claimed(), async () => {
      order.push('gate');
    });
    expect(order).toEqual(['gate', 'send']);
  });

  it('does not send a message whose number opted out after it was queued: settled as skipped (OPTED_OUT)', async () => {
    optOuts.isOptedOut.mockResolvedValue({ phone: '+33612345678', optedOutAt: new Date('2026-03-12T09:30:00Z'), source: 'keyword' });
    expect(await sut.process(claimed())).toEqual({ final: true });
    expect(provider.send).not.toHaveBeenCalled();
    expect(outbox.settle).toHaveBeenCalledWith(
      expect.anything(),
      expect.any(Number),
      { kind: 'skipped', errorCode: 'OPTED_OUT', errorMessage: expect.stringContaining('opted out on 2026-03-12T09:30:00.000Z') },
      expect.any(Date),
    );
  });

  describe('a long wait for the rate gate (a low SMS_MAX_PER_SECOND)', () => {
    /** The gate's wait: long enough that opt-outs and the batch are checked again after it. */
    const longWait = () => new Promise<void>((resolve) => setTimeout(resolve, 300));
    const stop = { phone: '+33612345678', optedOutAt: new Date('2026-03-12T09:30:00Z'), source: 'keyword' };

    it('does not send to a number that opted out while the message waited: skipped (OPTED_OUT)', async () => {
      optOuts.isOptedOut.mockResolvedValueOnce(null).mockResolvedValueOnce(stop);
      expect(await sut.process(claimed(), longWait)).toEqual({ final: true });
      expect(provider.send).not.toHaveBeenCalled();
      expect(outbox.settle.mock.calls[0][2]).toMatchObject({ kind: 'skipped', errorCode: 'OPTED_OUT' });
    });

    it('does not send a message whose batch was cancelled while it waited: stored cancelled', async () => {
      outbox.batchStatus.mockResolvedValue('cancelled');
      expect(await sut.process(claimed({ kind: SmsKind.Bulk, batchId: 'b-1' }), longWait)).toEqual({ final: true });
      expect(provider.send).not.toHaveBeenCalled();
      expect(outbox.settle.mock.calls[0][2]).toMatchObject({ kind: 'cancelled', errorCode: null });
    });

    it('asks nothing again after no wait (the check made at the claim stands)', async () => {
      outbox.batchStatus.mockResolvedValue('cancelled');
      await sut.process(claimed({ kind: SmsKind.Bulk, batchId: 'b-1' }), async () => {});
      expect(optOuts.isOptedOut).toHaveBeenCalledTimes(1);
      expect(provider.send).toHaveBeenCalledTimes(1);
    });

    it('renews a lease the wait took near its end before the call; a fresh one needs none', async () => {
      await sut.process(claimed());
      expect(outbox.renewLease).not.toHaveBeenCalled();
      const message = claimed({ leaseUntil: new Date(Date.now() + 3_000) });
      await sut.process(message);
      expect(outbox.renewLease).toHaveBeenCalledWith('m-1', 1, expect.any(Date), expect.any(Date), false);
      const until = outbox.renewLease.mock.calls[0][2] as Date;
      expect(until.getTime() - Date.now()).toBeGreaterThan(29_000);
      expect(message.leaseUntil).toBe(until);
      expect(provider.send).toHaveBeenCalledTimes(2);
    });

    it("sent again after a look-up found nothing: the unknown mark goes with the renewal right before the call (another row's look-up then sees it being sent)", async () => {
      const message = claimed({ attempts: 2, errorCode: 'TIMEOUT' });
      await sut.process(message);
      expect(provider.findSent).toHaveBeenCalled();
      expect(outbox.renewLease).toHaveBeenCalledWith('m-1', 2, expect.any(Date), expect.any(Date), true);
      expect(outbox.renewLease.mock.invocationCallOrder[0]).toBeLessThan(provider.send.mock.invocationCallOrder[0]);
    });

    it('makes no call once another worker took the row up (its lease ran out while it waited): never sent twice', async () => {
      outbox.renewLease.mockResolvedValue(false);
      expect(await sut.process(claimed({ leaseUntil: new Date(Date.now() - 1_000) }), longWait)).toEqual({ final: false, lostLease: true });
      expect(provider.send).not.toHaveBeenCalled();
      expect(outbox.settle).not.toHaveBeenCalled();
    });
  });

  it('puts the number on the opt-out list when Twilio answers 21610', async () => {
    provider.send.mockRejectedValue(
      new SmsProviderError({ kind: 'rejected', code: 21610, status: 400, message: 'Attempt to send to unsubscribed recipient' }),
    );
    expect(await sut.process(claimed())).toEqual({ final: true });
    expect(optOuts.optOut).toHaveBeenCalledWith(expect.stringMatching(/^\+/), expect.objectContaining({ source: 'twilio_21610' }));
  });

  describe('marketing hours (Mon-Sat 08:00-20:00, Europe/Paris, French public holidays)', () => {
    const marketing = (overrides: Partial<SmsMessage> = {}) =>
      claimed({ kind: SmsKind.Bulk, batchId: 'b-1', category: 'marketing', ...overrides });
    const saturdayOpening = new Date('2026-03-14T08:00:00+01:00');

    it('holds a marketing message claimed after 20:00 until the next opening: nothing asked of Twilio, the attempt given back', async () => {
      now = new Date('2026-03-13T20:00:00+01:00');
      // A retry whose previous outcome is unknown: looked up first (a read, not a send); not at Twilio, it is held.
      const result = await sut.process(marketing({ attempts: 2, errorCode: 'TIMEOUT' }));
      expect(result).toEqual({ final: false, retryAt: saturdayOpening, held: true });
      expect(outbox.settle).toHaveBeenCalledWith(expect.anything(), 2, { kind: 'held', notBefore: saturdayOpening }, expect.any(Date));
      expect(provider.send).not.toHaveBeenCalled();
      expect(provider.findSent).toHaveBeenCalledTimes(1);
      expect(optOuts.isOptedOut).not.toHaveBeenCalled();
      expect(outbox.markBatchStarted).not.toHaveBeenCalled();
      expect(events.emit).not.toHaveBeenCalled();
    });

    it('holds one whose notBefore passed on a public holiday (Easter Monday 2026) until the next day', async () => {
      now = new Date('2026-04-06T10:00:00+02:00');
      expect(await sut.process(marketing())).toEqual({ final: false, retryAt: new Date('2026-04-07T08:00:00+02:00'), held: true });
      expect(provider.send).not.toHaveBeenCalled();
    });

    it('holds one when the window closes while it waits for the rate gate', async () => {
      const result = await sut.process(marketing(), async () => {
        now = new Date('2026-03-13T20:00:01+01:00');
      });
      expect(result).toEqual({ final: false, retryAt: saturdayOpening, held: true });
      expect(provider.send).not.toHaveBeenCalled();
    });

    it('sends a marketing message inside the window, and a transactional one at any hour', async () => {
      expect(await sut.process(marketing())).toEqual({ final: true });
      now = new Date('2026-03-15T03:00:00+01:00'); // Sunday night
      expect(await sut.process(claimed({ category: 'transactional' }))).toEqual({ final: true });
      expect(provider.send).toHaveBeenCalledTimes(2);
    });
  });

  describe('quiet hours (21:00-08:00, Europe/Paris) for appointment reminders', () => {
    const reminder = (overrides: Partial<SmsMessage> = {}) =>
      claimed({
        kind: SmsKind.Notification,
        templateType: 'appointment_reminder',
        relatedType: 'appointment',
        relatedId: 'a-1',
        ...overrides,
      });
    const dropped = {
      kind: 'failed',
      errorCode: 'QUIET_HOURS',
      errorMessage: 'Not sent: quiet hours (QUIET_HOURS) began before Twilio took this reminder',
    };

    it("drops a reminder's retry due inside quiet hours (failed, QUIET_HOURS): not sent at night, nor the next morning", async () => {
      now = new Date('2026-03-13T21:00:10+01:00');
      expect(await sut.process(reminder({ attempts: 2, errorCode: '20503' }))).toEqual({ final: true });
      expect(outbox.settle).toHaveBeenCalledWith(expect.anything(), 2, dropped, expect.any(Date));
      expect(provider.send).not.toHaveBeenCalled();
    });

    it('drops one when quiet hours begin while it waits for the rate gate', async () => {
      now = new Date('2026-03-13T20:59:59+01:00');
      const result = await sut.process(reminder(), async () => {
        now = new Date('2026-03-13T21:00:00+01:00');
      });
      expect(result).toEqual({ final: true });
      expect(outbox.settle).toHaveBeenCalledWith(expect.anything(), 1, dropped, expect.any(Date));
      expect(provider.send).not.toHaveBeenCalled();
    });

    it('sends a reminder outside quiet hours, and confirmations or a manual reminder (no appointment) during them', async () => {
      now = new Date('2026-03-14T08:00:00+01:00');
      expect(await sut.process(reminder())).toEqual({ final: true });
      now = new Date('2026-03-13T23:00:00+01:00');
      expect(await sut.process(reminder({ templateType: 'appointment_confirmed' }))).toEqual({ final: true });
      expect(await sut.process(reminder({ relatedType: null, relatedId: null }))).toEqual({ final: true });
      expect(provider.send).toHaveBeenCalledTimes(3);
    });
  });
});
