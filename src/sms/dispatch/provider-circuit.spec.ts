import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { inject } from 'vitest';
import type { AppConfig } from '../../config/app-config.js';
import type { MetricsService } from '../../metrics/metrics.service.js';
import { SmsProviderError, type ProviderFailure } from '../providers/sms-provider.js';
import { CIRCUIT_MIN_CALLS, ProviderCircuit, ProviderPausedError } from './provider-circuit.js';
import { SHARED_PAUSE_POLL_MS } from './shared-outage-window.js';

const RESET_MS = 30_000;
const outage = (): ProviderFailure => ({ kind: 'rejected', status: 503, code: 20503, message: 'Service unavailable' });
const fail = (failure: ProviderFailure) => () => Promise.reject(new SmsProviderError(failure));
const ok = () => Promise.resolve('sent');

describe(ProviderCircuit.name, () => {
  let circuit: ProviderCircuit;
  let states: string[];

  const build = (circuitResetMs = RESET_MS) => {
    states = [];
    const metrics = { providerCircuit: (state: string) => states.push(state) } as unknown as MetricsService;
    return new ProviderCircuit({ dispatch: { circuitResetMs }, twilio: { timeoutMs: 10_000 } } as AppConfig, metrics);
  };

  beforeEach(() => {
    vi.useFakeTimers({ now: new Date('2030-01-15T10:00:00Z') });
    circuit = build();
  });
  afterEach(() => {
    circuit.onApplicationShutdown();
    vi.useRealTimers();
  });

  const failTimes = async (n: number, failure: ProviderFailure = outage()) => {
    for (let i = 0; i < n; i++) await circuit.call(fail(failure)).catch((error: unknown) => error);
  };

  it('opens only once enough calls failed as an outage, then pauses every call for SMS_CIRCUIT_RESET_MS', async () => {
    await failTimes(CIRCUIT_MIN_CALLS - 1);
    expect(circuit.pausedUntil()).toBeNull();
    await failTimes(1);
    const until = circuit.pausedUntil();
    expect(until?.getTime()).toBe(Date.now() + RESET_MS);
    const paused = await circuit.call(ok).catch((error: unknown) => error);
    expect(paused).toBeInstanceOf(ProviderPausedError);
    expect((paused as ProviderPausedError).until.getTime()).toBe(Date.now() + RESET_MS);
    expect(states.at(-1)).toBe('open');
  });

  it('counts timeouts, refused and lost connections as an outage, but not a refused number or a rate limit', async () => {
    await failTimes(20, { kind: 'rejected', status: 400, code: 21211, message: "Invalid 'To'" });
    await failTimes(20, { kind: 'rejected', status: 429, code: 20429, message: 'Too many requests' });
    expect(circuit.pausedUntil()).toBeNull();
    await failTimes(4, { kind: 'timeout', message: 'timed out' });
    await failTimes(4, { kind: 'network', message: 'ECONNREFUSED' });
    await failTimes(3, { kind: 'lost', message: 'socket hang up' });
    // 11 outage failures out of 51 calls: under half, still closed; the window forgets after 10 s.
    expect(circuit.pausedUntil()).toBeNull();
    await vi.advanceTimersByTimeAsync(11_000);
    await failTimes(CIRCUIT_MIN_CALLS, { kind: 'network', message: 'ECONNREFUSED' });
    expect(circuit.pausedUntil()).not.toBeNull();
  });

  it('lets one probe through after the pause: the others wait for it; an answer closes the circuit', async () => {
    await failTimes(CIRCUIT_MIN_CALLS);
    await vi.advanceTimersByTimeAsync(RESET_MS);
    expect(circuit.pausedUntil()).toBeNull();
    let answer!: (value: string) => void;
    const probe = circuit.call(() => new Promise<string>((resolve) => (answer = resolve)));
    const other = await circuit.call(ok).catch((error: unknown) => error);
    expect(other).toBeInstanceOf(ProviderPausedError);
    expect(circuit.pausedUntil()?.getTime()).toBe(Date.now() + 10_000);
    answer('sent');
    expect(await probe).toBe('sent');
    expect(circuit.pausedUntil()).toBeNull();
    expect(await circuit.call(ok)).toBe('sent');
    expect(states).toEqual(['closed', 'open', 'half_open', 'closed']);
  });

  it('closes on a probe Twilio refuses (it answered), and opens again for the same time on a probe that fails as an outage', async () => {
    await failTimes(CIRCUIT_MIN_CALLS);
    await vi.advanceTimersByTimeAsync(RESET_MS);
    await failTimes(1);
    expect(circuit.pausedUntil()?.getTime()).toBe(Date.now() + RESET_MS);
    await vi.advanceTimersByTimeAsync(RESET_MS);
    await failTimes(1, { kind: 'rejected', status: 400, code: 21211, message: "Invalid 'To'" });
    expect(circuit.pausedUntil()).toBeNull();
  });

  it('holds a call made once the app is stopping (the circuit shut down) instead of failing it as unknown', async () => {
    circuit.onApplicationShutdown();
    const stopped = await circuit.call(ok).catch((error: unknown) => error);
    expect(stopped).toBeInstanceOf(ProviderPausedError);
  });

  it('forgets the failures that opened it once it closes: one failure after the probe does not open it again', async () => {
    // A pause shorter than the 10 s window: the failures that opened the circuit are still in it when it closes.
    circuit.onApplicationShutdown();
    circuit = build(2_000);
    await failTimes(CIRCUIT_MIN_CALLS);
    expect(circuit.pausedUntil()).not.toBeNull();
    await vi.advanceTimersByTimeAsync(2_000);
    expect(await circuit.call(ok)).toBe('sent');
    await failTimes(1);
    expect(circuit.pausedUntil()).toBeNull();
  });

  it('never pauses with SMS_CIRCUIT_RESET_MS=0', async () => {
    circuit.onApplicationShutdown();
    circuit = build(0);
    await failTimes(50);
    expect(circuit.pausedUntil()).toBeNull();
    expect(await circuit.call(ok)).toBe('sent');
  });
});

/**
 * Several instances share a low rate (BullMQ spreads SMS_MAX_PER_SECOND over them): each may see too few calls to open
 * its own circuit while Twilio is down. With REDIS_URL they count in one window and pause together.
 */
const redisUrl = inject('redisUrl');
describe.skipIf(!redisUrl)('ProviderCircuit shared by instances through Redis', () => {
  const prefix = `sms-unit-circuit-${randomBytes(6).toString('hex')}:`;
  const clients: Redis[] = [];
  const circuits: ProviderCircuit[] = [];
  const logs: string[] = [];

  const instance = (pauseMs: number) => {
    const redis = new Redis(redisUrl!);
    clients.push(redis);
    const metrics = { providerCircuit: () => undefined } as unknown as MetricsService;
    const config = { dispatch: { circuitResetMs: pauseMs }, twilio: { timeoutMs: 10_000 }, redisKeyPrefix: prefix } as AppConfig;
    const circuit = new ProviderCircuit(config, metrics, redis);
    const logger = (circuit as unknown as { logger: { warn: (m: string) => void; log: (m: string) => void } }).logger;
    vi.spyOn(logger, 'warn').mockImplementation((m: string) => void logs.push(m));
    vi.spyOn(logger, 'log').mockImplementation((m: string) => void logs.push(m));
    circuits.push(circuit);
    return circuit;
  };

  afterEach(async () => {
    for (const circuit of circuits.splice(0)) circuit.onApplicationShutdown();
    const keys = await clients[0].keys(`${prefix}*`);
    if (keys.length) await clients[0].del(...keys);
    await Promise.all(clients.splice(0).map((c) => c.quit().catch(() => c.disconnect())));
    logs.length = 0;
    vi.restoreAllMocks();
  });

  it('pauses every instance once their calls together failed as an outage, though none saw enough to open its own', async () => {
    const [one, two] = [instance(30_000), instance(30_000)];
    await Promise.all(clients.map((c) => c.ping()));
    const perInstance = CIRCUIT_MIN_CALLS / 2 + 1;
    // Concurrently on both: 6 + 6 outage failures; each instance alone is under its own 10 calls.
    await Promise.all(
      [one, two].flatMap((circuit) => Array.from({ length: perInstance }, () => circuit.call(fail(outage())).catch(() => undefined))),
    );
    const both = async () => {
      for (const circuit of [one, two]) expect(circuit.pausedUntil()).not.toBeNull();
    };
    await vi.waitFor(both, { timeout: SHARED_PAUSE_POLL_MS * 4, interval: 50 });
    // Their own circuits stayed closed: the pause is the shared one.
    for (const circuit of [one, two]) expect((circuit as unknown as { breaker: { closed: boolean } }).breaker.closed).toBe(true);
    let called = false;
    const refused = await two
      .call(() => {
        called = true;
        return ok();
      })
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ProviderPausedError);
    expect(called).toBe(false);
    expect(logs.filter((m) => /of all instances failed/.test(m))).toHaveLength(1);
  });

  it("does not pause for answers that are not an outage (a refused number), nor below the window's minimum", async () => {
    const [one, two] = [instance(30_000), instance(30_000)];
    await Promise.all(clients.map((c) => c.ping()));
    const refusedNumber = fail({ kind: 'rejected', status: 400, code: 21211, message: "Invalid 'To'" });
    await Promise.all(
      [one, two].flatMap((circuit) => Array.from({ length: 10 }, () => circuit.call(refusedNumber).catch(() => undefined))),
    );
    await Promise.all(
      [one, two].flatMap((circuit) => Array.from({ length: 4 }, () => circuit.call(fail(outage())).catch(() => undefined))),
    );
    // 8 outages out of 28 calls: under half.
    await new Promise((resolve) => setTimeout(resolve, SHARED_PAUSE_POLL_MS * 2));
    for (const circuit of [one, two]) expect(circuit.pausedUntil()).toBeNull();
  });

  it('ends the pause on an instance that lost Redis meanwhile, when its time is over (its metric and its log line)', async () => {
    const [one, two] = [instance(1_500), instance(1_500)];
    await Promise.all(clients.map((c) => c.ping()));
    await Promise.all(
      [one, two].flatMap((circuit) => Array.from({ length: 6 }, () => circuit.call(fail(outage())).catch(() => undefined))),
    );
    await vi.waitFor(() => expect(two.pausedUntil()).not.toBeNull(), { timeout: SHARED_PAUSE_POLL_MS * 4, interval: 50 });
    clients[1].disconnect();
    await vi.waitFor(() => expect(logs.filter((m) => /calls resume/.test(m))).toHaveLength(2), { timeout: 4_000, interval: 50 });
    expect(two.pausedUntil()).toBeNull();
  });

  it('resumes every instance when the shared pause ends', async () => {
    const [one, two] = [instance(1_500), instance(1_500)];
    await Promise.all(clients.map((c) => c.ping()));
    await Promise.all(
      [one, two].flatMap((circuit) => Array.from({ length: 6 }, () => circuit.call(fail(outage())).catch(() => undefined))),
    );
    await vi.waitFor(() => expect(two.pausedUntil()).not.toBeNull(), { timeout: SHARED_PAUSE_POLL_MS * 4, interval: 50 });
    await vi.waitFor(() => expect(two.pausedUntil()).toBeNull(), { timeout: 3_000, interval: 50 });
    expect(await two.call(ok)).toBe('sent');
    await vi.waitFor(() => expect(logs.filter((m) => /calls resume/.test(m)).length).toBeGreaterThanOrEqual(1), { timeout: 2_000 });
  });
});
