import { Inject, Injectable, Logger, OnApplicationShutdown, Optional } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { EventEmitter } from 'node:events';
import CircuitBreaker from 'opossum';
import { AppConfig } from '../../config/app-config.js';
import { MetricsService } from '../../metrics/metrics.service.js';
import { REDIS } from '../../redis/redis.module.js';
import { SmsProviderError } from '../providers/sms-provider.js';
import { isOutage } from './retry-policy.js';
import { SharedOutageWindow } from './shared-outage-window.js';

/** Calls in the rolling window before the circuit may open at all. */
export const CIRCUIT_MIN_CALLS = 10;
/** Share of the window's calls that failed as an outage above which the circuit opens. */
export const CIRCUIT_FAILURE_PERCENT = 50;
/** The rolling window the two figures above are counted over, in CIRCUIT_BUCKETS slices. */
export const CIRCUIT_WINDOW_MS = 10_000;
const CIRCUIT_BUCKETS = 10;

/** Thrown instead of calling the provider while the circuit is open (or its one probe is in flight). */
export class ProviderPausedError extends Error {
  constructor(readonly until: Date) {
    super(`Calls to the SMS provider are paused until ${until.toISOString()} (it looked down)`);
  }
}

/**
 * The circuit breaker in front of the SMS provider (`opossum`), so that Twilio's bad days do not use up every
 * message's attempts: when more than CIRCUIT_FAILURE_PERCENT % of at least CIRCUIT_MIN_CALLS calls in
 * CIRCUIT_WINDOW_MS failed as an outage (Twilio's 5xx, a timeout, a connection refused or lost: `isOutage`),
 * this process makes no call for SMS_CIRCUIT_RESET_MS. The dispatcher then holds the messages it claims until
 * then, their claim not counted as an attempt (SmsDispatcher), and the inline queue claims nothing meanwhile.
 * After that time one call goes through (a real message, half-open): it reaches Twilio, and the circuit closes
 * (a 4xx or 429 counts as Twilio answering); it fails as an outage, and it opens again for the same time.
 * Each instance keeps its own circuit (it opens on what that instance saw); with REDIS_URL the instances also count
 * their calls in one window and pause together when it tips ({@link SharedOutageWindow}: several instances sharing a
 * low rate may each see too few calls to open their own). SMS_CIRCUIT_RESET_MS=0: no circuit.
 */
@Injectable()
export class ProviderCircuit implements OnApplicationShutdown {
  private readonly logger = new Logger(ProviderCircuit.name);
  private readonly breaker: CircuitBreaker<[() => Promise<unknown>], unknown> | null;
  private readonly resetMs: number;
  /** How long the others wait for the probe's answer: the provider's timeout at most. */
  private readonly probeWaitMs: number;
  /** When the circuit last opened (ms): opossum's own `lastTimerAt` is set once, when the breaker is built. */
  private openedAt = 0;
  /** Turns opossum's window by one slice per 'rotate' (see the constructor). */
  private readonly rotation = new EventEmitter();
  private rotating: NodeJS.Timeout | null = null;
  /** The instances' shared window (REDIS_URL); null: this instance's circuit alone. */
  private readonly shared: SharedOutageWindow | null = null;

  constructor(config: AppConfig, metrics: MetricsService, @Optional() @Inject(REDIS) redis?: Redis | null) {
    this.resetMs = config.dispatch.circuitResetMs;
    this.probeWaitMs = Math.min(this.resetMs, config.twilio.timeoutMs);
    if (this.resetMs <= 0) {
      this.breaker = null;
      return;
    }
    this.breaker = new CircuitBreaker((call: () => Promise<unknown>) => call(), {
      // The SDK has its own timeout (TWILIO_TIMEOUT_MS): the breaker adds none.
      timeout: false,
      resetTimeout: this.resetMs,
      errorThresholdPercentage: CIRCUIT_FAILURE_PERCENT,
      volumeThreshold: CIRCUIT_MIN_CALLS,
      rollingCountTimeout: CIRCUIT_WINDOW_MS,
      rollingCountBuckets: CIRCUIT_BUCKETS,
      // The window turns when told (a slice every CIRCUIT_WINDOW_MS / CIRCUIT_BUCKETS), so that closing the circuit can
      // empty it: opossum keeps its counts when the circuit closes, and the failures that opened it, still in the
      // window, would open it again at the next failure.
      rotateBucketController: this.rotation,
      enableSnapshots: false,
      // What is not an outage does not count against Twilio: it answered (a refused number, a rate limit).
      errorFilter: (error: unknown) => error instanceof SmsProviderError && !isOutage(error.failure),
    });
    this.rotating = setInterval(() => this.rotation.emit('rotate'), CIRCUIT_WINDOW_MS / CIRCUIT_BUCKETS);
    this.rotating.unref();
    this.breaker.on('open', () => {
      this.openedAt = Date.now();
      metrics.providerCircuit('open');
      // Calls that ended (opossum's `fires` also counts those refused while open and those still in flight).
      const { failures, successes } = this.breaker!.stats;
      this.logger.warn(
        `SMS provider looks down (${failures} of the last ${failures + successes} calls that ended failed): no call for ${this.resetMs} ms; messages wait, no attempt counted`,
      );
    });
    this.breaker.on('halfOpen', () => metrics.providerCircuit('half_open'));
    this.breaker.on('close', () => {
      for (let i = 0; i < CIRCUIT_BUCKETS; i++) this.rotation.emit('rotate');
      metrics.providerCircuit('closed');
      this.logger.log('SMS provider answers again: calls resume');
    });
    metrics.providerCircuit('closed');
    if (redis) {
      const rules = {
        minCalls: CIRCUIT_MIN_CALLS,
        failurePercent: CIRCUIT_FAILURE_PERCENT,
        windowMs: CIRCUIT_WINDOW_MS,
        slices: CIRCUIT_BUCKETS,
        pauseMs: this.resetMs,
      };
      this.shared = new SharedOutageWindow(redis, `${config.redisKeyPrefix}sms-circuit:`, rules, {
        paused: (untilMs, counts) => {
          if (this.breaker!.closed) metrics.providerCircuit('open');
          const until = new Date(untilMs).toISOString();
          this.logger.warn(
            counts
              ? `SMS provider looks down (${counts.failures} of the last ${counts.calls} calls of all instances failed): no call on any instance until ${until}; messages wait, no attempt counted`
              : `SMS provider looks down (seen by the instances together): no call until ${until}; messages wait, no attempt counted`,
          );
        },
        resumed: () => {
          if (this.breaker!.closed) metrics.providerCircuit('closed');
          this.logger.log('SMS provider pause shared by the instances is over: calls resume');
        },
      });
    }
  }

  /** The shared pause's end (ms), when it is still ahead; else null. */
  private sharedPause(now: number): number | null {
    const until = this.shared?.pausedUntilMs ?? 0;
    return until > now ? until : null;
  }

  /** When calls resume, while none may be made now; null when one may. */
  pausedUntil(now = Date.now()): Date | null {
    const breaker = this.breaker;
    if (!breaker) return null;
    const shared = this.sharedPause(now);
    if (breaker.closed) return shared === null ? null : new Date(shared);
    if (breaker.opened) {
      return new Date(Math.max(this.openedAt + this.resetMs, now + 1));
    }
    // Half-open: the first call is the probe; the others wait for its answer.
    return breaker.pendingClose ? null : new Date(now + this.probeWaitMs);
  }

  /** Runs a call to the provider through the circuit; ProviderPausedError when it may not be made now. */
  async call<T>(call: () => Promise<T>): Promise<T> {
    if (!this.breaker) return call();
    const shared = this.sharedPause(Date.now());
    if (shared !== null) throw new ProviderPausedError(new Date(shared));
    try {
      const result = (await this.breaker.fire(call)) as T;
      this.shared?.record(false);
      return result;
    } catch (error) {
      // Open, or its probe in flight, or shut down (the app is stopping): the call was not made; the message waits.
      if (error instanceof Error && CircuitBreaker.isOurError(error))
        throw new ProviderPausedError(this.pausedUntil() ?? new Date(Date.now() + this.probeWaitMs));
      // Counted in the shared window as opossum counts it here: Twilio's answer (a refused number, a rate limit) is not an
      // outage; anything else thrown is (the dispatcher takes it for a lost call).
      this.shared?.record(error instanceof SmsProviderError ? isOutage(error.failure) : true);
      throw error;
    }
  }

  /** After the dispatch queue has stopped (SmsModule's beforeApplicationShutdown): no send is still on its way here. */
  onApplicationShutdown(): void {
    if (this.rotating) clearInterval(this.rotating);
    this.shared?.stop();
    this.breaker?.shutdown();
  }
}
