import type { ProviderFailure } from '../providers/sms-provider.js';
import {
  decideRetry,
  fullJitter,
  isAmbiguous,
  isOutage,
  isRetryable,
  lookUpRetryDelay,
  NEVER_RETRIED,
  QUEUE_FULL_WAIT_MS,
  retryReason,
} from './retry-policy.js';

const settings = { maxAttempts: 5, baseMs: 100, maxMs: 1000 };
const rejected = (code: number | undefined, status: number, retryAfterSeconds?: number): ProviderFailure => ({
  kind: 'rejected',
  code,
  status,
  message: 'x',
  retryAfterSeconds,
});

describe('retry policy', () => {
  it.each(Object.keys(NEVER_RETRIED).map(Number))('never retries Twilio %i', (code) => {
    expect(isRetryable(rejected(code, 400))).toBe(false);
    expect(decideRetry(rejected(code, 400), 1, settings)).toEqual({ retry: false });
  });

  it('retries rate limits, 5xx, unreachable and unknown outcomes; not other 4xx', () => {
    expect(isRetryable(rejected(20429, 429))).toBe(true);
    expect(isRetryable(rejected(undefined, 429))).toBe(true);
    expect(isRetryable(rejected(20500, 500))).toBe(true);
    expect(isRetryable(rejected(20503, 503))).toBe(true);
    expect(isRetryable({ kind: 'network', message: 'ECONNREFUSED' })).toBe(true);
    expect(isRetryable({ kind: 'timeout', message: 't' })).toBe(true);
    expect(isRetryable({ kind: 'lost', message: 'reset' })).toBe(true);
    expect(isRetryable(rejected(21999, 400))).toBe(false);
    expect(isRetryable(rejected(undefined, 404))).toBe(false);
  });

  it('looks up first only when the request may have reached Twilio', () => {
    expect(isAmbiguous({ kind: 'timeout', message: '' })).toBe(true);
    expect(isAmbiguous({ kind: 'lost', message: '' })).toBe(true);
    expect(isAmbiguous({ kind: 'network', message: '' })).toBe(false);
    expect(isAmbiguous(rejected(20500, 500))).toBe(false);
    // A gateway's 500, 502 or 504 without Twilio's error body (no code): the API behind it may have created it.
    for (const status of [500, 502, 504]) expect(isAmbiguous({ kind: 'rejected', status, message: '' })).toBe(true);
    // A JSON body whose code is null (failureCode stores the bare status then, as for no code at all).
    expect(isAmbiguous({ kind: 'rejected', status: 504, code: null as unknown as undefined, message: '' })).toBe(true);
    // A gateway's 503 (nothing behind it), Twilio's own 5xx and 4xx: Twilio answered, nothing was created.
    for (const status of [503, 429, 400]) expect(isAmbiguous({ kind: 'rejected', status, message: '' })).toBe(false);
    expect(decideRetry({ kind: 'rejected', status: 504, message: '' }, 1, settings)).toMatchObject({ retry: true, lookUpFirst: true });
    expect(decideRetry({ kind: 'timeout', message: '' }, 1, settings)).toMatchObject({ retry: true, lookUpFirst: true });
    expect(decideRetry({ kind: 'network', message: '' }, 1, settings)).toMatchObject({ retry: true, lookUpFirst: false });
  });

  it('looks an unknown outcome up no sooner than lookUpAfterMs (the provider may still be creating it); other retries are not held', () => {
    const withGrace = { ...settings, lookUpAfterMs: 1500 };
    expect(decideRetry({ kind: 'timeout', message: '' }, 1, withGrace, () => 0.5)).toMatchObject({ retry: true, delayMs: 1500 });
    expect(decideRetry({ kind: 'lost', message: '' }, 1, withGrace, () => 0.5)).toMatchObject({ retry: true, delayMs: 1500 });
    expect(decideRetry(rejected(20500, 500), 1, withGrace, () => 0.5)).toMatchObject({ retry: true, delayMs: 50 });
    expect(decideRetry({ kind: 'network', message: '' }, 1, withGrace, () => 0.5)).toMatchObject({ retry: true, delayMs: 50 });
    // A longer Retry-After or backoff still wins.
    expect(decideRetry(rejected(20429, 429, 7), 1, withGrace, () => 0.5)).toMatchObject({ delayMs: 7000 });
  });

  it('stops after maxAttempts', () => {
    expect(decideRetry(rejected(20500, 500), 4, settings).retry).toBe(true);
    expect(decideRetry(rejected(20500, 500), 5, settings)).toEqual({ retry: false });
  });

  it('past maxAttempts, keeps retrying an outage (5xx, timeout, lost or refused connection) until SMS_OUTAGE_RETRY_MS after the first attempt', () => {
    const hour = { ...settings, outageRetryMs: 3_600_000 };
    const first = new Date('2030-01-01T10:00:00Z');
    const at = (minutes: number) => ({ firstAttemptAt: first, now: new Date(first.getTime() + minutes * 60_000) });
    for (const outage of [
      rejected(20500, 500),
      rejected(undefined, 503),
      { kind: 'timeout', message: '' },
      { kind: 'lost', message: '' },
      { kind: 'network', message: '' },
    ] as const) {
      expect(decideRetry(outage, 5, hour, () => 0.5, at(59))).toMatchObject({ retry: true });
      expect(decideRetry(outage, 40, hour, () => 0.5, at(59)).retry).toBe(true);
      expect(decideRetry(outage, 5, hour, () => 0.5, at(60))).toEqual({ retry: false });
      // Off, or no first attempt known: maxAttempts as before.
      expect(decideRetry(outage, 5, settings, () => 0.5, at(1))).toEqual({ retry: false });
      expect(decideRetry(outage, 5, hour, () => 0.5, { firstAttemptAt: null, now: first })).toEqual({ retry: false });
      expect(decideRetry(outage, 5, hour, () => 0.5)).toEqual({ retry: false });
    }
    // Twilio answering is not an outage: its rate limit and its refusals use the attempts up.
    expect(decideRetry(rejected(20429, 429), 5, hour, () => 0.5, at(1))).toEqual({ retry: false });
    expect(decideRetry(rejected(21211, 400), 1, hour, () => 0.5, at(1))).toEqual({ retry: false });
  });

  it("retries Twilio's full sender queue (21611) a minute apart at least, past maxAttempts until SMS_OUTAGE_RETRY_MS, without opening the circuit", () => {
    const hour = { ...settings, outageRetryMs: 3_600_000 };
    const first = new Date('2030-01-01T10:00:00Z');
    const at = (minutes: number) => ({ firstAttemptAt: first, now: new Date(first.getTime() + minutes * 60_000) });
    const queueFull = rejected(21611, 400);
    expect(isRetryable(queueFull)).toBe(true);
    expect(isOutage(queueFull)).toBe(false);
    expect(decideRetry(queueFull, 1, hour, () => 0.5, at(0))).toEqual({ retry: true, delayMs: QUEUE_FULL_WAIT_MS, lookUpFirst: false });
    expect(decideRetry(queueFull, 12, hour, () => 0.5, at(59))).toMatchObject({ retry: true });
    expect(decideRetry(queueFull, 12, hour, () => 0.5, at(60))).toEqual({ retry: false });
    expect(decideRetry(queueFull, 5, settings, () => 0.5, at(1))).toEqual({ retry: false });
  });

  it('waits a full-jitter exponential delay, capped', () => {
    expect(fullJitter(1, settings, () => 0.999)).toBe(99);
    expect(fullJitter(3, settings, () => 0.999)).toBe(399);
    expect(fullJitter(10, settings, () => 0.999)).toBe(999);
    expect(fullJitter(3, settings, () => 0)).toBe(0);
  });

  it('honours Retry-After when it is longer than the backoff', () => {
    expect(decideRetry(rejected(20429, 429, 7), 1, settings, () => 0.5)).toMatchObject({ retry: true, delayMs: 7000 });
    expect(decideRetry(rejected(20429, 429, 0), 3, settings, () => 0.5)).toMatchObject({ retry: true, delayMs: 200 });
  });

  it('a look-up Twilio did not answer waits at least Retry-After and lookUpAfterMs, and longer as time passes since the first attempt', () => {
    const now = new Date('2030-01-01T10:00:00Z');
    const ago = (ms: number) => ({ firstAttemptAt: new Date(now.getTime() - ms), now });
    const look = { ...settings, maxMs: 60_000, lookUpAfterMs: 1500 };
    expect(lookUpRetryDelay(rejected(20429, 429, 30), look, ago(2000), () => 0.5)).toBe(30_000);
    expect(lookUpRetryDelay({ kind: 'timeout', message: 't' }, look, ago(2000), () => 0.5)).toBe(1500);
    expect(lookUpRetryDelay({ kind: 'timeout', message: 't' }, look, ago(20_000), () => 0.5)).toBe(10_000);
    // Capped by maxMs.
    expect(lookUpRetryDelay(rejected(20500, 500), look, ago(3_600_000), () => 0.999)).toBe(59_940);
  });
});

describe('retryReason', () => {
  it.each([
    ['21611', 'queue_full'],
    ['20429', 'rate_limited'],
    ['20503', 'server_error'],
    ['NETWORK', 'network'],
    ['TIMEOUT', 'timeout'],
    ['CONNECTION_LOST', 'unknown_outcome'],
    // A gateway's bare status after a send: the message may exist.
    ['504', 'unknown_outcome'],
    ['500', 'unknown_outcome'],
    ['502', 'unknown_outcome'],
    ['503', 'server_error'],
  ])('%s → %s', (code, reason) => expect(retryReason(code)).toBe(reason));

  it("counts a gateway's failure of a look-up (a read) as a server error", () => {
    expect(retryReason('504', true)).toBe('server_error');
    expect(retryReason('TIMEOUT', true)).toBe('timeout');
    expect(retryReason('CONNECTION_LOST', true)).toBe('network');
  });
});
