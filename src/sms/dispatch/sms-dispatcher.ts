import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { PhoneNumberService } from '../../phone/phone-number.service.js';
import { EventEmitter2 } from '@nestjs/event-emitter';
import { EventEmitter } from 'node:events';
import { describeError, safeLogText } from '../../common/log-safe.js';
import { AppConfig } from '../../config/app-config.js';
import { MetricsService } from '../../metrics/metrics.service.js';
import { SMS_PROVIDER, SmsProviderError, type ProviderFailure, type ProviderReceipt, type SmsProvider } from '../providers/sms-provider.js';
import { SMS_SKIPPED, SMS_CANCELLED, SMS_FAILED, SmsMessage } from '../sms-message.entity.js';
import { SMS_EVENTS, type SmsMessageUpdatedEvent } from '../sms.events.js';
import { describeOptOut, OPTED_OUT } from '../opt-outs/opted-out.error.js';
import { OptOutService } from '../opt-outs/opt-out.service.js';
import { OptOutSource } from '../opt-outs/sms-opt-out.entity.js';
import { DeliveryStatusService, TWILIO_UNSUBSCRIBED } from '../webhooks/delivery-status.service.js';
import { DispatchLines } from './dispatch-lines.js';
import {
  decideRetry,
  isAmbiguous,
  isRetryable,
  lookUpRetryDelay,
  retryReason,
  withinOutageRetry,
  type RetrySettings,
} from './retry-policy.js';
import { SendHours } from './send-hours.js';
import { RelatedRecords } from '../../common/related-records.js';
import { OUTDATED, QUIET_HOURS } from '../sms.events.js';
import { LEASE_EXPIRED, settledStatus, SmsOutbox, UNKNOWN_OUTCOME_CODES, type SettleResult, type Settlement } from './sms-outbox.js';
import { ProviderCircuit, ProviderPausedError } from './provider-circuit.js';

/** A wait for the rate gate this long or longer: opt-outs and the batch's cancellation are checked again after it. */
const RECHECK_AFTER_WAIT_MS = 250;
/** Look-ups in a row for a row whose find another row adopted first, before it tries again later. */
const MAX_ADOPTION_TRIES = 3;
/** Lease left beyond a call's longest time (TWILIO_TIMEOUT_MS) before a call may start without renewing it. */
const LEASE_MARGIN_MS = 5_000;

/**
 * The lease a claim must have left when its call starts: the call's longest time plus a margin, the margin cut to what
 * half a lease allows but never below the call's time (SMS_LEASE_MS is only required to exceed TWILIO_TIMEOUT_MS, so a
 * renewed lease always covers a call). With less left, the lease is renewed first.
 */
export function leaseNeededForCall(leaseMs: number, callMs: number): number {
  return Math.max(callMs, Math.min(callMs + LEASE_MARGIN_MS, leaseMs / 2));
}

/** What became of a claimed message (`held`: not attempted, outside its sending hours until `retryAt`: see SendHours). */
export type DispatchResult = { final: true } | { final: false; retryAt: Date; held?: true } | { final: false; lostLease: true };

/** The code stored for a failure (Twilio's code, its HTTP status, or TIMEOUT / NETWORK / CONNECTION_LOST). */
export function failureCode(failure: ProviderFailure): string {
  if (failure.kind === 'rejected') return String(failure.code ?? failure.status ?? 'UNKNOWN');
  return failure.kind === 'lost' ? 'CONNECTION_LOST' : failure.kind.toUpperCase();
}

/**
 * One use case: a claimed message goes to the provider and its answer is stored.
 * - A message whose previous attempt may have reached Twilio (timeout, connection lost, lease expired)
 *   is looked up first: found, its SID is adopted; not found, it is sent (or, cancelled meanwhile, stored
 *   cancelled); Twilio cannot tell, it waits.
 * - A failure is retried per the retry policy (backoff with full jitter, Retry-After), else final.
 * - A message outside its sending hours (SendHours) is not sent: a marketing message after closing time or on
 *   a public holiday is queued again until the next opening, its claim not counted as an attempt; an
 *   appointment's reminder during quiet hours (a retry, a late event) is dropped, failed with QUIET_HOURS.
 * - While the provider looks down (ProviderCircuit: most recent calls failed with 5xx, timeouts, refused
 *   connections), no call is made: a claimed message is queued again until calls resume, no attempt counted.
 * - Only the lease holder's attempt is stored. A final state of a message tied to a record is committed with
 *   its `sms.message.updated` in the domain-events outbox (delivered at least once, also across a crash), and
 *   that of a single or notification send with its journal entry (SmsOutbox), and a batch's last message
 *   ends the batch with the journal entry of its end; once it is committed, other messages' event is
 *   emitted in memory.
 */
@Injectable()
export class SmsDispatcher {
  private readonly logger = new Logger(SmsDispatcher.name);
  /** Attempts that failed and will be made again: said in the log, at most once a minute per error code. */
  private readonly lines = new DispatchLines(this.logger);
  /**
   * Local signals for requests waiting on their row: `<message id>` when it settled or was rescheduled,
   * `failure` (id, ProviderFailure) just before a final failure is stored, `halted` at shutdown.
   */
  readonly settled = new EventEmitter().setMaxListeners(0);
  /** Set at shutdown once this process sends no more (see halt). */
  private stopped = false;
  private readonly retry: RetrySettings;
  private readonly startedBatches = new Set<string>();
  /** SMS_LEASE_MS: how long a claim holds its row. */
  private readonly leaseMs: number;
  /** TWILIO_TIMEOUT_MS: the longest a call to the provider lasts. */
  private readonly callMs: number;

  constructor(
    private readonly outbox: SmsOutbox,
    @Inject(SMS_PROVIDER) private readonly provider: SmsProvider,
    private readonly events: EventEmitter2,
    config: AppConfig,
    private readonly metrics: MetricsService,
    private readonly optOuts: OptOutService,
    private readonly deliveryStatus: DeliveryStatusService,
    private readonly hours: SendHours,
    private readonly records: RelatedRecords,
    private readonly circuit: ProviderCircuit,
    @Optional() private readonly phones?: PhoneNumberService,
  ) {
    this.retry = {
      maxAttempts: config.dispatch.maxAttempts,
      baseMs: config.dispatch.retryBaseMs,
      maxMs: config.dispatch.retryMaxMs,
      // An attempt that timed out is looked up no sooner than one more timeout later (see RetrySettings).
      lookUpAfterMs: config.twilio.timeoutMs,
      outageRetryMs: config.dispatch.outageRetryMs,
    };
    this.leaseMs = config.dispatch.leaseMs;
    this.callMs = config.twilio.timeoutMs;
  }

  /** This process sends no more (shutdown): a request waiting on its message answers with the row as it is. */
  get halted(): boolean {
    return this.stopped;
  }

  /** Until when calls to the provider are paused (the circuit is open: it looks down), or null when they go. */
  providerPausedUntil(): Date | null {
    return this.circuit.pausedUntil();
  }

  /** Called once the dispatch queue has stopped: wakes every waiting request (`halted` on `settled`), says the lines held. */
  halt(): void {
    this.stopped = true;
    this.settled.emit('halted');
    this.lines.close();
  }

  /** `beforeSend` is awaited right before the provider is asked to send (the inline rate gate). */
  async process(message: SmsMessage, beforeSend?: () => Promise<void>): Promise<DispatchResult> {
    const attempt = message.attempts;
    // An earlier attempt whose outcome is unknown is looked up before anything else may hold the message back or
    // drop it: one that left is adopted (stored sent), never dropped as outdated or out of hours.
    if ((UNKNOWN_OUTCOME_CODES as readonly string[]).includes(message.errorCode ?? '')) {
      let found: ProviderReceipt | null;
      try {
        found = await this.lookUp(message);
      } catch (error) {
        if (error instanceof ProviderPausedError) return this.paused(message, attempt, error.until);
        const failure = asFailure(error, this.logger);
        // Twilio did not answer the question (rate limited, 5xx, timeout, connection refused or lost): that is no
        // answer, and it does not use the message's attempts up. Within SMS_OUTAGE_RETRY_MS of its first attempt it is
        // asked again later (backoff, Retry-After, no sooner than TWILIO_TIMEOUT_MS), the look-up's claim given back and
        // the "unknown" mark kept; then, as below, its attempts are the limit.
        const times = this.attemptTimes(message);
        if (isRetryable(failure) && withinOutageRetry(this.retry, times)) {
          const notBefore = later(lookUpRetryDelay(failure, this.retry, times));
          const result = await this.store(message, attempt, { kind: 'held', notBefore });
          if ('held' in result) {
            this.metrics.retry(retryReason(failureCode(failure), true));
            this.logger.debug(`SMS ${message.id}: look-up failed (${failure.message}), asked again at ${notBefore.toISOString()}`);
          }
          return result;
        }
        // Twilio refused the look-up (its credentials, a 4xx), or SMS_OUTAGE_RETRY_MS has passed: ask again later while
        // attempts are left, keeping the "unknown" mark; past the last one, give up: cancelled if someone asked to
        // (never sent again, its outcome still unknown), else failed.
        const unknown = { errorCode: message.errorCode!, errorMessage: `Outcome unknown; look-up failed: ${failure.message}` };
        const decision = decideRetry({ kind: 'timeout', message: '' }, attempt, this.retry);
        if (decision.retry) return this.store(message, attempt, { kind: 'retry', notBefore: later(decision.delayMs), ...unknown });
        const cancelled = await this.cancelRequested(message);
        return this.store(
          message,
          attempt,
          cancelled
            ? { kind: 'cancelled', ...unknown, errorMessage: `${unknown.errorMessage}; cancelled` }
            : { kind: 'failed', ...unknown },
        );
      }
      // Found, but another row alike is in flight: the message found may be that row's, its answer not back yet.
      // Asked again once that row is stored (its SID then owned: not adopted here), the claim given back.
      if (found && (await this.outbox.alikeInFlight(message)))
        return this.store(message, attempt, { kind: 'held', notBefore: later(this.retry.lookUpAfterMs ?? 0) });
      const adopted = found ? await this.adopt(message, attempt, found) : null;
      if (adopted) return adopted;
      // Cancelled while its last attempt's outcome was unknown (alone, with its batch, or its batch while the worker
      // that made that attempt died), and that attempt is not at Twilio: it ends cancelled, never sent again.
      if (await this.cancelRequested(message)) {
        const errorMessage = `${message.errorMessage ?? message.errorCode}; cancelled, not at Twilio`;
        return this.store(message, attempt, { kind: 'cancelled', errorCode: message.errorCode!, errorMessage });
      }
      // Not at Twilio: past the last attempt it fails, unless the unknown outcome was Twilio's (a timeout, a lost
      // connection: an outage) and SMS_OUTAGE_RETRY_MS has not passed since its first attempt; then it is sent again
      // below. A lease that ran out (a worker died or stalled) is not Twilio's outage: its attempts are the limit.
      const outage = message.errorCode !== LEASE_EXPIRED && withinOutageRetry(this.retry, this.attemptTimes(message));
      if (attempt > this.retry.maxAttempts && !outage) {
        // A waiting request answers from the stored row: its code (TIMEOUT, CONNECTION_LOST…) says what happened.
        const errorMessage = `${message.errorMessage ?? message.errorCode}; not at Twilio, no attempt left`;
        return this.store(message, attempt, { kind: 'failed', errorCode: message.errorCode!, errorMessage });
      }
    }

    const notNow = await this.notNow(message, attempt);
    if (notNow) return notNow;
    if (message.batchId) await this.markStarted(message.batchId);

    // Checked when the message is claimed, as the opt-out list below: SMS_ALLOWED_COUNTRIES set or narrowed after the
    // message was accepted (pumping under way) stops what is queued too, sends later and retries included.
    const country = this.phones?.countryRefusal(message.to);
    if (country) return this.store(message, attempt, { kind: 'skipped', errorCode: country.code, errorMessage: country.message });

    // Checked when the message is claimed: a number that opted out after the message was queued gets nothing.
    const optOut = await this.optOuts.isOptedOut(message.to);
    if (optOut) return this.store(message, attempt, { kind: 'skipped', errorCode: OPTED_OUT, errorMessage: describeOptOut(optOut) });

    const waitStarted = Date.now();
    await beforeSend?.();
    // Waiting for the rate gate may have taken it past closing time (or into quiet hours), or its record may have
    // moved on meanwhile (a cancellation committed while it waited): asked again right before the call.
    const meanwhile = await this.notNow(message, attempt);
    if (meanwhile) return meanwhile;
    if (Date.now() - waitStarted >= RECHECK_AFTER_WAIT_MS) {
      // A long wait (a low SMS_MAX_PER_SECOND, a batch ahead): a STOP or the batch's cancellation committed meanwhile
      // is honoured, not only those committed before the claim.
      const late = await this.lateRefusal(message, attempt);
      if (late) return late;
    }
    // The lease must outlast the call: a worker that waited long (the rate gate, a slow database) renews it first, or,
    // if another worker has meanwhile taken the row up (the lease ran out), makes no call: that worker's attempt is
    // the row's now, and two calls would send the message twice.
    if (!(await this.leaseCoversCall(message, attempt))) {
      this.logger.warn(`SMS ${message.id}: lease lost before attempt ${attempt} was made; another worker owns it, not sent from here`);
      return { final: false, lostLease: true };
    }
    // Said here, when it is sent again (not when it is held, skipped or dropped instead): the mark goes with the lease's
    // renewal just above, so a message is counted once.
    if (message.errorCode === LEASE_EXPIRED) this.lines.takenOver(false);
    try {
      const receipt = await this.circuit.call(() => this.provider.send({ to: message.to, body: message.body }));
      return this.store(message, attempt, { kind: 'sent', ...receipt });
    } catch (error) {
      if (error instanceof ProviderPausedError) return this.paused(message, attempt, error.until);
      const failure = asFailure(error, this.logger);
      const code = failureCode(failure);
      const decision = decideRetry(failure, attempt, this.retry, Math.random, this.attemptTimes(message));
      if (decision.retry)
        return this.store(message, attempt, {
          kind: 'retry',
          notBefore: later(decision.delayMs),
          errorCode: code,
          errorMessage: failure.message,
        });
      if (isAmbiguous(failure)) {
        // The last attempt's outcome is unknown: it is never resent, but looked up once more, no sooner than
        // one timeout later (a message Twilio was still creating is not listed yet). The next claim finds the
        // mark, looks it up, and adopts it or, past the last attempt, marks it failed (see the start of process).
        return this.store(message, attempt, {
          kind: 'retry',
          notBefore: later(this.retry.lookUpAfterMs ?? 0),
          errorCode: code,
          errorMessage: failure.message,
        });
      }
      // A request waiting on this message in this process answers with the failure as the provider gave it.
      this.settled.emit('failure', message.id, failure);
      return this.store(message, attempt, { kind: 'failed', errorCode: code, errorMessage: failure.message });
    }
  }

  /**
   * Stored as skipped, held or dropped when the message may not leave now; null when it may:
   * - the provider looks down (ProviderCircuit): held until calls resume, its claim not counted;
   * - about a record (an appointment) and written for a state the record has left (cancelled, moved, a new number)
   *   or whose time has passed (RelatedRecords): `skipped`, OUTDATED: not sent on purpose, as an opted-out number's,
   *   not a failure in the counts and alerts;
   * - outside its sending hours (SendHours).
   */
  private async notNow(message: SmsMessage, attempt: number): Promise<DispatchResult | null> {
    const paused = this.circuit.pausedUntil();
    if (paused) return this.paused(message, attempt, paused);
    if (message.relatedType && message.relatedId && message.relatedVersion) {
      const outdated = await this.records.whyOutdated(message.relatedType, message.relatedId, message.relatedVersion);
      if (outdated) return this.store(message, attempt, { kind: 'skipped', errorCode: OUTDATED, errorMessage: outdated });
    }
    return this.outOfHours(message, attempt);
  }

  /** Stored as held or dropped when the message may not leave now (SendHours); null when it may. */
  private async outOfHours(message: SmsMessage, attempt: number): Promise<DispatchResult | null> {
    const verdict = this.hours.verdict(message);
    if (!verdict) return null;
    if ('drop' in verdict) return this.store(message, attempt, { kind: 'failed', errorCode: QUIET_HOURS, errorMessage: verdict.drop });
    const result = await this.store(message, attempt, { kind: 'held', notBefore: verdict.hold });
    if ('held' in result) this.logger.debug(`SMS ${message.id}: marketing hours closed, held until ${verdict.hold.toISOString()}`);
    return result;
  }

  /**
   * Whether a message whose outcome is unknown was cancelled meanwhile: asked to stop (`cancel_requested_at`, set by
   * the cancellations and by a settlement in a cancelled batch), or in a batch cancelled while its attempt was in
   * flight and whose worker died (no settlement ran; the batch's status says it).
   */
  private async cancelRequested(message: SmsMessage): Promise<boolean> {
    if (message.cancelRequestedAt) return true;
    return !!message.batchId && (await this.outbox.batchStatus(message.batchId)) === 'cancelled';
  }

  /** Stored skipped (opted out) or cancelled (its batch was) when that happened while the message waited; else null. */
  private async lateRefusal(message: SmsMessage, attempt: number): Promise<DispatchResult | null> {
    const optOut = await this.optOuts.isOptedOut(message.to);
    if (optOut) return this.store(message, attempt, { kind: 'skipped', errorCode: OPTED_OUT, errorMessage: describeOptOut(optOut) });
    if (message.batchId && (await this.outbox.batchStatus(message.batchId)) === 'cancelled')
      return this.store(message, attempt, { kind: 'cancelled', errorCode: null, errorMessage: 'Batch cancelled before this message left' });
    return null;
  }

  /**
   * True when this worker's lease on the row lasts what a call needs (leaseNeededForCall), renewing it for a lease if
   * not; false when the row is no longer this attempt's (see SmsOutbox.renewLease). A fresh claim needs no renewal.
   */
  private async leaseCoversCall(message: SmsMessage, attempt: number): Promise<boolean> {
    const now = Date.now();
    // Sent again after a look-up that found nothing: its unknown mark is cleared with the renewal, so that another
    // row's look-up sees a row being sent (SmsOutbox.alikeInFlight) and does not adopt the message this call creates.
    // A crash during the call marks it LEASE_EXPIRED again when it is claimed; a timeout marks it TIMEOUT.
    const unknown = (UNKNOWN_OUTCOME_CODES as readonly string[]).includes(message.errorCode ?? '');
    if (!unknown && message.leaseUntil && message.leaseUntil.getTime() - now >= leaseNeededForCall(this.leaseMs, this.callMs)) return true;
    const until = new Date(now + this.leaseMs);
    if (!(await this.outbox.renewLease(message.id, attempt, until, new Date(now), unknown))) return false;
    message.leaseUntil = until;
    return true;
  }

  /** What the outage allowance is measured on (SMS_OUTAGE_RETRY_MS): the claim set first_attempt_at. */
  private attemptTimes(message: SmsMessage): { firstAttemptAt: Date | null; now: Date } {
    return { firstAttemptAt: message.firstAttemptAt, now: new Date() };
  }

  /** Not attempted while the provider looks down: queued again until calls resume, the claim given back. */
  private async paused(message: SmsMessage, attempt: number, until: Date): Promise<DispatchResult> {
    const result = await this.store(message, attempt, { kind: 'held', notBefore: until });
    if ('held' in result) this.logger.debug(`SMS ${message.id}: the provider looks down, held until ${until.toISOString()}`);
    return result;
  }

  /** The oldest message at the provider that matches and that no other row owns. */
  private async lookUp(message: SmsMessage): Promise<ProviderReceipt | null> {
    const candidates = await this.circuit.call(() =>
      this.provider.findSent({ to: message.to, body: message.body, since: message.createdAt }),
    );
    if (!candidates.length) return null;
    const owned = await this.outbox.ownedSids(candidates.map((c) => c.sid));
    return candidates.find((c) => !owned.has(c.sid)) ?? null;
  }

  private async store(message: SmsMessage, attempt: number, settlement: Settlement): Promise<DispatchResult> {
    const now = new Date();
    return this.afterSettle(message, attempt, settlement, now, await this.outbox.settle(message, attempt, settlement, now));
  }

  /**
   * The message found at Twilio stored as this row's, or, when another row holding the same number and text adopted that
   * SID first, the next one found that no row holds; null when none is left (this row's message is not at Twilio).
   */
  private async adopt(message: SmsMessage, attempt: number, found: ProviderReceipt): Promise<DispatchResult | null> {
    for (let candidate: ProviderReceipt | null = found, tries = 1; candidate; tries++) {
      const settlement: Settlement = { kind: 'sent', ...candidate, adopted: true };
      const now = new Date();
      const result = await this.outbox.settle(message, attempt, settlement, now);
      if (!result.sidTaken) {
        if (result.applied && message.errorCode === LEASE_EXPIRED) this.lines.takenOver(true);
        return this.afterSettle(message, attempt, settlement, now, result);
      }
      // Rows keep adopting each other's finds (many alike at once): this one tries again later, its claim given back.
      if (tries >= MAX_ADOPTION_TRIES)
        return this.store(message, attempt, { kind: 'held', notBefore: later(this.retry.lookUpAfterMs ?? 0) });
      try {
        candidate = await this.lookUp(message);
      } catch {
        return this.store(message, attempt, { kind: 'held', notBefore: later(this.retry.lookUpAfterMs ?? 0) });
      }
    }
    return null;
  }

  private async afterSettle(
    message: SmsMessage,
    attempt: number,
    settlement: Settlement,
    now: Date,
    result: SettleResult,
  ): Promise<DispatchResult> {
    if (!result.applied) {
      this.logger.warn(`SMS ${message.id}: lease lost before attempt ${attempt} was stored; another worker owns it`);
      return { final: false, lostLease: true };
    }
    if (result.cancelled) {
      // Its batch was cancelled while this attempt was in flight: not queued again (SmsOutbox.settle).
      message.status = SMS_CANCELLED;
      await this.afterFinal(message, now, result.published);
      return { final: true };
    }
    if (settlement.kind === 'held') {
      this.settled.emit(message.id);
      return { final: false, retryAt: settlement.notBefore, held: true };
    }
    if (settlement.kind === 'retry') {
      this.metrics.retry(retryReason(settlement.errorCode));
      this.lines.retried(settlement.errorCode, settlement.errorMessage);
      this.settled.emit(message.id);
      return { final: false, retryAt: settlement.notBefore };
    }
    const status = settledStatus(settlement);
    if (settlement.kind === 'failed') {
      // One line per SMS that will not go (numbers in the provider's text are masked by the logger).
      const about = message.relatedType ? ` for ${message.relatedType} ${message.relatedId}` : '';
      this.logger.warn(
        `${message.kind} SMS ${message.id}${about} failed after ${attempt} attempt(s): ${settlement.errorCode} ${safeLogText(settlement.errorMessage)}`,
      );
    }
    Object.assign(message, {
      status,
      providerSid: settlement.kind === 'sent' ? settlement.sid : null,
      from: settlement.kind === 'sent' ? (settlement.from ?? message.from) : message.from,
      errorCode: settlement.kind === 'sent' ? null : settlement.errorCode,
      errorMessage: settlement.kind === 'sent' ? null : settlement.errorMessage,
    });
    await this.afterDelivery(message, settlement);
    // A cancellation is counted by afterFinal.
    if (settlement.kind !== 'cancelled') this.metrics.smsStateChanged(message.kind, message.category ?? 'transactional', status);
    await this.afterFinal(message, now, result.published);
    return { final: true };
  }

  /**
   * What the delivery side learns from a settled attempt: Twilio's 21610 puts the number on the opt-out
   * list; a stored SID picks up the status callbacks that came before it. Never fails the send.
   */
  private async afterDelivery(message: SmsMessage, settlement: Settlement): Promise<void> {
    try {
      if (settlement.kind === 'failed' && settlement.errorCode === TWILIO_UNSUBSCRIBED)
        await this.optOuts.optOut(message.to, {
          source: OptOutSource.Twilio21610,
          reason: `Twilio ${TWILIO_UNSUBSCRIBED}: ${settlement.errorMessage}`,
        });
      if (settlement.kind === 'sent') await this.deliveryStatus.adoptEarlyCallbacks(message.id, settlement.sid);
    } catch (error) {
      this.logger.error(`SMS ${message.id}: delivery bookkeeping failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  /**
   * After a final state is committed (with its journal entry, and the batch's end with its own, see
   * SmsOutbox): event and waiters. `published`: the event was committed to the domain-events outbox with
   * the state (the relay delivers it); otherwise it is emitted in memory here.
   */
  async afterFinal(message: SmsMessage, at: Date, published = false): Promise<void> {
    // Sent and failed were counted when stored; a cancellation comes here straight from its UPDATE.
    if (message.status === SMS_CANCELLED) this.metrics.smsStateChanged(message.kind, message.category ?? 'transactional', SMS_CANCELLED);
    try {
      if (!published) {
        const event: SmsMessageUpdatedEvent = {
          messageId: message.id,
          status: message.status,
          relatedType: message.relatedType,
          relatedId: message.relatedId,
          templateType: message.templateType,
          at,
          ...(message.status === SMS_FAILED || message.status === SMS_SKIPPED ? { errorCode: message.errorCode } : {}),
        };
        this.events.emit(SMS_EVENTS.messageUpdated, event);
      }
    } catch (error) {
      this.logger.error(`SMS ${message.id}: after-send bookkeeping failed: ${describeError(error)}`);
    } finally {
      // The final row as stored: a request waiting on it answers without reading it again.
      this.settled.emit(message.id, message);
    }
  }

  private async markStarted(batchId: string): Promise<void> {
    if (this.startedBatches.has(batchId)) return;
    if (this.startedBatches.size > 1000) this.startedBatches.clear();
    this.startedBatches.add(batchId);
    await this.outbox.markBatchStarted(batchId);
  }
}

function later(ms: number): Date {
  return new Date(Date.now() + ms);
}

function asFailure(error: unknown, logger: Logger): ProviderFailure {
  if (error instanceof SmsProviderError) return error.failure;
  logger.error(`SMS provider call failed unexpectedly: ${describeError(error)}`);
  // Not attributable: the request may have left, so it counts as an unknown outcome.
  return { kind: 'lost', message: 'Unexpected error while calling the SMS provider' };
}
