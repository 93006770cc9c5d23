import type { AppConfig } from '../../config/app-config.js';
import type { MetricsService } from '../../metrics/metrics.service.js';
import { SmsProviderError, type ProviderFailure } from '../providers/sms-provider.js';
import { CIRCUIT_MIN_CALLS, ProviderCircuit, ProviderPausedError } from './provider-circuit.js';

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
