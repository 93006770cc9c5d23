import type { ProviderFailure } from '../providers/sms-provider.js';

/**
 * Twilio errors that will not change however often the message is sent again: never retried.
 * The README's table is this one.
 */
export const NEVER_RETRIED: Readonly<Record<number, string>> = {
  20003: 'credentials refused',
  21211: "invalid 'To' number",
  21408: 'region not enabled for this account',
  21602: 'message body required',
  21603: "'From' required",
  21604: "'To' required",
  21606: "'From' cannot send to this number",
  21608: 'trial account: number not verified',
  21610: 'recipient unsubscribed (STOP)',
  21612: "'To' not reachable by SMS",
  21614: "'To' is not a mobile number",
  21617: 'body over 1600 characters',
};

/**
 * Twilio's 21611: the sending number's queue holds more messages than it sends in hours, and Twilio refuses new ones
 * until it drains. Nothing is wrong with the message: it waits at least QUEUE_FULL_WAIT_MS between attempts and, like
 * an outage, is retried past maxAttempts until SMS_OUTAGE_RETRY_MS after its first attempt (a bulk's tail would
 * otherwise fail for good within seconds). It does not open the circuit: Twilio is answering.
 */
export const QUEUE_FULL = 21611;
export const QUEUE_FULL_WAIT_MS = 60_000;

/** What to do after a failed attempt. */
export type RetryDecision =
  /** Give up: the message is `failed` with this error. */
  | { retry: false }
  /**
   * Try again after `delayMs`. `lookUpFirst`: the attempt may have reached Twilio, so the next one asks
   * Twilio whether the message exists before sending anything.
   */
  | { retry: true; delayMs: number; lookUpFirst: boolean };

export interface RetrySettings {
  maxAttempts: number;
  baseMs: number;
  maxMs: number;
  /**
   * After an unknown outcome, the look-up waits at least this long (the provider's timeout): a message Twilio
   * was still creating when the call gave up is not listed yet, and "not found" too early would send it twice.
   */
  lookUpAfterMs?: number;
  /**
   * SMS_OUTAGE_RETRY_MS: a message whose attempts are used up while the provider is down (isOutage) is still retried
   * until this long after its first attempt; 0 or absent: never. The circuit (ProviderCircuit) keeps attempts from
   * being used up when many messages fail; this covers the lone message, whose few calls do not open it.
   */
  outageRetryMs?: number;
}

/** When the message's attempts started, and now: what the outage allowance is measured on. */
export interface AttemptTimes {
  firstAttemptAt: Date | null;
  now: Date;
}

/**
 * Which failures are worth another attempt:
 * - Twilio rate limits (HTTP 429, code 20429), honouring Retry-After, and its full sender queue (21611, QUEUE_FULL);
 * - Twilio's 5xx;
 * - the request never reached Twilio (connection refused, DNS);
 * - the outcome is unknown (timeout, connection lost after the request was written, a gateway's 500, 502 or 504
 *   without Twilio's error: isGatewayFailure): retried only after a look-up, never simply resent, and not before
 *   `lookUpAfterMs`.
 * Everything else (Twilio's other 4xx, the table above) is final. After `maxAttempts` calls, final too, unless
 * the provider is down (isOutage) and the first attempt is less than `outageRetryMs` old (`times`).
 */
export function decideRetry(
  failure: ProviderFailure,
  attempts: number,
  settings: RetrySettings,
  random = Math.random,
  times?: AttemptTimes,
): RetryDecision {
  if (!isRetryable(failure)) return { retry: false };
  const queueFull = failure.kind === 'rejected' && failure.code === QUEUE_FULL;
  if (attempts >= settings.maxAttempts && !((isOutage(failure) || queueFull) && withinOutageRetry(settings, times)))
    return { retry: false };
  const backoff = fullJitter(attempts, settings, random);
  const retryAfterMs = failure.kind === 'rejected' && failure.retryAfterSeconds !== undefined ? failure.retryAfterSeconds * 1000 : 0;
  const ambiguous = isAmbiguous(failure);
  const floor = Math.max(ambiguous ? (settings.lookUpAfterMs ?? 0) : 0, queueFull ? QUEUE_FULL_WAIT_MS : 0);
  return { retry: true, delayMs: Math.max(backoff, retryAfterMs, floor), lookUpFirst: ambiguous };
}

export function isRetryable(failure: ProviderFailure): boolean {
  if (failure.kind !== 'rejected') return true;
  if (failure.code !== undefined && NEVER_RETRIED[failure.code]) return false;
  const status = failure.status ?? 0;
  return status === 429 || failure.code === 20429 || failure.code === QUEUE_FULL || status >= 500;
}

/**
 * The provider itself is failing, whatever the message: its 5xx, a timeout, a connection refused or lost. These
 * are what open the circuit (ProviderCircuit); a 4xx or a rate limit is the provider answering.
 */
export function isOutage(failure: ProviderFailure): boolean {
  if (failure.kind !== 'rejected') return true;
  return (failure.status ?? 0) >= 500;
}

/** The first attempt is recent enough for a provider outage not to use the message up (SMS_OUTAGE_RETRY_MS). */
export function withinOutageRetry(settings: Pick<RetrySettings, 'outageRetryMs'>, times?: AttemptTimes): boolean {
  if (!settings.outageRetryMs || !times?.firstAttemptAt) return false;
  return times.now.getTime() - times.firstAttemptAt.getTime() < settings.outageRetryMs;
}

/**
 * The wait before a message whose outcome is unknown is looked up again, after a look-up Twilio did not answer
 * (isRetryable: rate limited, 5xx, timeout, connection refused or lost). Its attempts do not move meanwhile (the
 * look-up's claim is given back), so the backoff grows with the time since its first attempt instead: full jitter
 * in [0, min(max, max(base, that time))], at least Twilio's Retry-After and `lookUpAfterMs`.
 */
export function lookUpRetryDelay(failure: ProviderFailure, settings: RetrySettings, times: AttemptTimes, random = Math.random): number {
  const elapsed = times.firstAttemptAt ? times.now.getTime() - times.firstAttemptAt.getTime() : 0;
  const ceiling = Math.min(settings.maxMs, Math.max(settings.baseMs, elapsed));
  const retryAfterMs = failure.kind === 'rejected' && failure.retryAfterSeconds !== undefined ? failure.retryAfterSeconds * 1000 : 0;
  return Math.max(Math.floor(random() * ceiling), retryAfterMs, settings.lookUpAfterMs ?? 0);
}

/** The request may have reached the provider: what happened must be looked up, not assumed. */
export function isAmbiguous(failure: ProviderFailure): boolean {
  return failure.kind === 'timeout' || failure.kind === 'lost' || isGatewayFailure(failure);
}

/**
 * HTTP statuses that, answered without Twilio's own error body (no Twilio code: the SDK's "[HTTP 504] Failed to execute
 * request"), come from a gateway in front of Twilio's API, which may have passed the request on before it failed or
 * timed out: the message may exist. 503 without a body is a gateway with nothing behind it: nothing was created.
 */
const GATEWAY_STATUSES: ReadonlySet<number> = new Set([500, 502, 504]);

/** A gateway's 500, 502 or 504 (GATEWAY_STATUSES): the outcome is unknown, as after a timeout. */
export function isGatewayFailure(failure: ProviderFailure): boolean {
  return failure.kind === 'rejected' && failure.code == null && GATEWAY_STATUSES.has(failure.status ?? 0);
}

/** Exponential backoff with full jitter: uniform in [0, min(max, base · 2^(attempt-1))]. */
export function fullJitter(attempt: number, settings: Pick<RetrySettings, 'baseMs' | 'maxMs'>, random = Math.random): number {
  const ceiling = Math.min(settings.maxMs, settings.baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.floor(random() * ceiling);
}

/**
 * The metrics' retry reason (`sms_retries_total{reason}`) for a stored error code. A gateway's bare 500, 502 or 504
 * (GATEWAY_STATUSES: stored as the bare status) is `unknown_outcome` after a send (the message may exist: looked up
 * before any resend), `server_error` after a look-up (`afterLookUp`: a read, nothing was created).
 */
export function retryReason(code: string, afterLookUp = false): string {
  if (code === String(QUEUE_FULL)) return 'queue_full';
  if (code === '20429' || code === '429') return 'rate_limited';
  if (!afterLookUp && /^\d{3}$/.test(code) && GATEWAY_STATUSES.has(Number(code))) return 'unknown_outcome';
  // A look-up is a read: a connection lost during it is the network's failure, nothing was created.
  if (afterLookUp && code === 'CONNECTION_LOST') return 'network';
  if (/^(205\d\d|5\d\d)$/.test(code)) return 'server_error';
  if (code === 'NETWORK') return 'network';
  if (code === 'TIMEOUT') return 'timeout';
  return 'unknown_outcome';
}
