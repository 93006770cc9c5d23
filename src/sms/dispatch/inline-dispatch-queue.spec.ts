import type { AppConfig } from '../../config/app-config.js';
import type { SmsMessage } from '../sms-message.entity.js';
import { InlineDispatchQueue } from './inline-dispatch-queue.js';
import type { SmsDispatcher } from './sms-dispatcher.js';
import type { SmsOutbox } from './sms-outbox.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('InlineDispatchQueue timers', () => {
  const config = { maxConcurrency: 2, maxPerSecond: 10, pollIntervalMs: 60_000, leaseMs: 1_000 } as AppConfig['dispatch'];
  let claimDue: ReturnType<typeof vi.fn>;
  let queue: InlineDispatchQueue;
  const warnings: Error[] = [];
  const onWarning = (warning: Error) => warnings.push(warning);

  beforeEach(async () => {
    warnings.length = 0;
    process.on('warning', onWarning);
    claimDue = vi.fn(async () => []);
    queue = new InlineDispatchQueue({ claimDue } as unknown as SmsOutbox, {} as SmsDispatcher, config);
    await queue.start();
    await sleep(5);
    expect(claimDue).toHaveBeenCalledTimes(1); // the start's own claim
  });
  afterEach(async () => {
    await queue.stop();
    process.off('warning', onWarning);
  });

  it('wakes for a send due in a moment when it is due', async () => {
    queue.notify([{ id: 'a', notBefore: new Date(Date.now() + 30) }]);
    await sleep(10);
    expect(claimDue).toHaveBeenCalledTimes(1);
    await sleep(60);
    expect(claimDue).toHaveBeenCalledTimes(2);
  });

  it('sets no timer past what Node allows for a send due in 30 days (no wake-up at once, no overflow warning)', async () => {
    queue.notify([{ id: 'a', notBefore: new Date(Date.now() + 30 * 86_400_000) }]);
    await sleep(50);
    expect(claimDue).toHaveBeenCalledTimes(1);
    expect(warnings.map((w) => w.name)).not.toContain('TimeoutOverflowWarning');
  });
});

describe('InlineDispatchQueue stop', () => {
  const config = { maxConcurrency: 2, maxPerSecond: 10, pollIntervalMs: 60_000, leaseMs: 1_000 } as AppConfig['dispatch'];

  it('waits for a claim under way and sends what it claimed before it returns (those rows are already sending)', async () => {
    let answerClaim!: (rows: SmsMessage[]) => void;
    const claimDue = vi.fn(() => new Promise<SmsMessage[]>((resolve) => (answerClaim = resolve)));
    let finishSend!: () => void;
    const send = vi.fn(() => new Promise((resolve) => (finishSend = () => resolve({ final: true }))));
    const queue = new InlineDispatchQueue({ claimDue } as unknown as SmsOutbox, { process: send } as unknown as SmsDispatcher, config);
    await queue.start();
    await sleep(5);
    expect(claimDue).toHaveBeenCalledTimes(1);

    let stopped = false;
    const stopping = queue.stop().then(() => (stopped = true));
    await sleep(20);
    expect(stopped).toBe(false);
    answerClaim([{ id: 'claimed-while-stopping' } as SmsMessage]);
    await sleep(20);
    expect(send).toHaveBeenCalledTimes(1);
    expect(send.mock.calls[0]).toEqual([expect.objectContaining({ id: 'claimed-while-stopping' }), expect.any(Function)]);
    expect(stopped).toBe(false);
    finishSend();
    await stopping;
    expect(claimDue).toHaveBeenCalledTimes(1); // nothing more claimed once stopped
  });
});

describe('InlineDispatchQueue in flight', () => {
  it('claims no more than the rate gate lets start while a claim leaves a call its lease: 14 at 1 a second (30 s lease, 10 s calls)', async () => {
    const claimDue = vi.fn(async () => []);
    const slow = { maxConcurrency: 50, maxPerSecond: 1, pollIntervalMs: 60_000, leaseMs: 30_000 } as AppConfig['dispatch'];
    const queue = new InlineDispatchQueue({ claimDue } as unknown as SmsOutbox, {} as SmsDispatcher, slow, undefined, 10_000);
    expect(queue.maxInFlight).toBe(14);
    await queue.start();
    await sleep(5);
    await queue.stop();
    expect((claimDue.mock.calls[0] as unknown[])[0]).toBe(14);
    // At the defaults' 10 a second, the concurrency decides.
    const defaults = { ...slow, maxConcurrency: 10, maxPerSecond: 10 };
    expect(
      new InlineDispatchQueue({ claimDue } as unknown as SmsOutbox, {} as SmsDispatcher, defaults, undefined, 10_000).maxInFlight,
    ).toBe(10);
  });
});

describe('InlineDispatchQueue slots', () => {
  const config = { maxConcurrency: 2, maxPerSecond: 10, pollIntervalMs: 60_000, leaseMs: 1_000 } as AppConfig['dispatch'];

  it('counts the slots a claim under way asked rows for: a single send arriving meanwhile is not handed one', async () => {
    let answerClaim!: (rows: SmsMessage[]) => void;
    const claimDue = vi.fn(() => new Promise<SmsMessage[]>((resolve) => (answerClaim = resolve)));
    const finishes: Array<() => void> = [];
    const send = vi.fn(() => new Promise((resolve) => finishes.push(() => resolve({ final: true }))));
    const queue = new InlineDispatchQueue({ claimDue } as unknown as SmsOutbox, { process: send } as unknown as SmsDispatcher, config);
    await queue.start();
    await sleep(5);
    expect((claimDue.mock.calls[0] as unknown[])[0]).toBe(2);
    // Both slots are the claim's until it answers.
    expect(queue.reserve(new Date())).toBeNull();
    answerClaim([{ id: 'one' } as SmsMessage, { id: 'two' } as SmsMessage]);
    await sleep(5);
    expect(send).toHaveBeenCalledTimes(2);
    expect(queue.reserve(new Date())).toBeNull();
    // A claim that found fewer rows gives the rest back.
    finishes.splice(0).forEach((finish) => finish());
    await sleep(5);
    expect(claimDue).toHaveBeenCalledTimes(2);
    answerClaim([]);
    await sleep(5);
    const slot = queue.reserve(new Date());
    expect(slot).not.toBeNull();
    slot!.release();
    await sleep(5);
    answerClaim([]);
    await queue.stop();
  });
});
