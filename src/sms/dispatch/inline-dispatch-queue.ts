import { Logger } from '@nestjs/common';
import { AsyncLocalStorage } from 'node:async_hooks';
import type { AppConfig } from '../../config/app-config.js';
import type { SmsMessage } from '../sms-message.entity.js';
import type { DirectSlot, DispatchQueue, QueuedMessage } from './dispatch-queue.js';
import type { ProviderCircuit } from './provider-circuit.js';
import { RateGate } from './rate-gate.js';
import { leaseNeededForCall, type SmsDispatcher } from './sms-dispatcher.js';
import type { SmsOutbox } from './sms-outbox.js';

/** The longest delay a Node timer takes (about 24.8 days); past it Node fires after 1 ms instead, with a warning. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The embedded dispatcher (no Redis): one loop per process claims due rows from the database, at most
 * `maxConcurrency` in flight; a rate gate lets at most `maxPerSecond` provider calls start in any
 * sliding second (taken right before the call). Woken at once when a row is
 * written, by a timer for the next retry it knows of, and by polling otherwise (rows written by
 * another process, leases that ran out).
 */
export class InlineDispatchQueue implements DispatchQueue {
  readonly kind = 'inline';
  private readonly logger = new Logger('InlineDispatchQueue');
  private readonly gate: RateGate;
  /**
   * The most messages in flight at once: SMS_MAX_CONCURRENCY, and no more than the rate gate lets start while a claim
   * still leaves what a call needs of its lease. Claimed beyond that, a message would wait at the gate until its lease
   * ran out, be taken up again by the poll (an attempt used up, LEASE_EXPIRED) and, but for the renewal before each
   * call (SmsDispatcher), sent twice. With the defaults (10 a second, a 30 s lease, a 10 s timeout) it is 146: the
   * concurrency decides; at 1 a second with 50 slots, 14.
   */
  readonly maxInFlight: number;
  private readonly inFlight = new Set<Promise<void>>();
  private running = false;
  /** The claim loop while it runs: stop() waits for it (a claim under way hands its rows to dispatch). */
  private looping: Promise<void> | null = null;
  private again = false;
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;
  private poller: NodeJS.Timeout | null = null;
  /** Abandoned leases are looked for once per poll interval, not on every wake. */
  private lastAbandonedCheck = 0;
  /** Slots handed out by reserve() whose row is being written. */
  private reserved = 0;
  /**
   * Slots a claim under way has asked rows for: taken until its rows are dispatched (they then count in `inFlight`).
   * Without it a single send arriving during the claim's query found those slots free, and the claim's rows went over
   * the limit (5 in flight for 4, seen in an end-to-end test).
   */
  private claiming = 0;
  /** Settled when the last reserved slot is used or given back (stop() waits for it). */
  private reservationsDone: { promise: Promise<void>; resolve: () => void } | null = null;
  /**
   * False once a claim found fewer due rows than it had slots (nothing else due then), until something may
   * have become due: a notify, a retry's timer, the poll. A finishing send wakes the loop only when true, so
   * sends that never waited in the table cost no empty claim.
   */
  private mayHaveDue = true;

  /**
   * Runs a function in the context the queue was built in (the boot, outside any request): the claim loop and its
   * timers, started by whichever request woke them, must not carry that request's id on their log lines (nor its
   * SQLite transaction). A single send written already claimed keeps its own request's context (reserve).
   */
  private readonly detached = AsyncLocalStorage.snapshot();

  constructor(
    private readonly outbox: SmsOutbox,
    private readonly dispatcher: SmsDispatcher,
    private readonly config: AppConfig['dispatch'],
    private readonly circuit?: ProviderCircuit,
    /** TWILIO_TIMEOUT_MS: the longest a call lasts. */
    callMs = 0,
  ) {
    this.gate = new RateGate(config.maxPerSecond);
    const waitable = config.leaseMs - leaseNeededForCall(config.leaseMs, callMs);
    this.maxInFlight = Math.min(config.maxConcurrency, this.gate.passesWithin(waitable));
  }

  async start(): Promise<void> {
    this.running = true;
    this.poller = setInterval(() => this.wake(), this.config.pollIntervalMs);
    this.poller.unref();
    this.wake();
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.poller) clearInterval(this.poller);
    if (this.timer) clearTimeout(this.timer);
    // A row being written already claimed (reserve()) is sent by its slot; then calls in flight finish and store
    // their answer; rows not yet claimed stay queued for the next start. A write that never ends (the database
    // gone) is waited for one lease at most: its row, if written, is a lease that runs out, looked up after the restart.
    if (this.reserved > 0) {
      if (!this.reservationsDone) {
        let resolve!: () => void;
        const promise = new Promise<void>((r) => (resolve = r));
        this.reservationsDone = { promise, resolve };
      }
      let timer: NodeJS.Timeout | undefined;
      const bound = new Promise<void>((resolve) => (timer = setTimeout(resolve, this.config.leaseMs)));
      await Promise.race([this.reservationsDone.promise, bound]);
      clearTimeout(timer);
    }
    // A claim under way when the queue stopped has marked its rows sending: they are sent (below, with the other
    // calls in flight), not left to wait for their lease to run out after the restart.
    if (this.looping) await this.looping;
    await this.idle();
  }

  async idle(): Promise<void> {
    while (this.inFlight.size) await Promise.allSettled([...this.inFlight]);
  }

  readiness(): { ready: boolean; detail: string } {
    return this.running ? { ready: true, detail: 'inline, running' } : { ready: false, detail: 'inline dispatcher not running' };
  }

  notify(messages: readonly QueuedMessage[]): void {
    let soonest = Infinity;
    for (const m of messages) soonest = Math.min(soonest, m.notBefore?.getTime() ?? 0);
    if (soonest <= Date.now()) this.wake();
    else if (soonest !== Infinity) this.wakeAt(soonest);
  }

  private wakeAt(at: number): void {
    if (!this.running || at >= this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(
      () =>
        this.detached(() => {
          this.timer = null;
          this.timerAt = Infinity;
          this.wake();
        }),
      // A send due later than that (sendAt is allowed 35 days ahead) is woken early, finds nothing due, and is
      // claimed by the poll once due.
      Math.min(MAX_TIMER_MS, Math.max(0, at - Date.now())),
    );
    this.timer.unref();
  }

  reserve(now: Date): DirectSlot | null {
    if (!this.running || this.taken() >= this.maxInFlight) return null;
    // The provider looks down: the row is written queued and waits for calls to resume, like any other.
    if (this.circuit?.pausedUntil()) return null;
    this.reserved++;
    let open = true;
    const close = () => {
      if (open && --this.reserved === 0 && this.reservationsDone) {
        this.reservationsDone.resolve();
        this.reservationsDone = null;
      }
      open = false;
    };
    return {
      leaseUntil: new Date(now.getTime() + this.config.leaseMs),
      run: (message) => {
        // In flight before the slot closes: stop() waits for it either way.
        this.dispatch(message);
        close();
      },
      release: () => {
        close();
        this.wake();
      },
    };
  }

  private wake(): void {
    this.mayHaveDue = true;
    if (!this.running) return;
    if (this.looping) {
      this.again = true;
      return;
    }
    this.looping = this.detached(() => this.loop()).finally(() => {
      this.looping = null;
      if (this.again) this.wake();
    });
  }

  private async loop(): Promise<void> {
    do {
      this.again = false;
      // Full: a finishing call wakes the loop.
      const slots = this.maxInFlight - this.taken();
      if (slots <= 0) return;
      // The provider looks down (ProviderCircuit): nothing is claimed before calls may resume.
      const paused = this.circuit?.pausedUntil();
      if (paused) {
        this.mayHaveDue = true;
        this.wakeAt(paused.getTime());
        return;
      }
      let claimed;
      // Anything due from here on (a notify, a timer) sets it again.
      this.mayHaveDue = false;
      try {
        const now = new Date();
        const withAbandoned = now.getTime() - this.lastAbandonedCheck >= this.config.pollIntervalMs;
        if (withAbandoned) this.lastAbandonedCheck = now.getTime();
        this.claiming = slots;
        claimed = await this.outbox.claimDue(slots, this.config.leaseMs, now, withAbandoned);
      } catch (error) {
        this.logger.error(`Claiming SMS to send failed: ${error instanceof Error ? error.message : String(error)}`);
        this.mayHaveDue = true;
        return;
      } finally {
        this.claiming = 0;
      }
      if (claimed.length === slots) this.mayHaveDue = true;
      for (const message of claimed) this.dispatch(message);
      if (claimed.length === slots) this.again = true;
    } while (this.again && this.running);
  }

  /** Slots in use: calls in flight, rows being written already claimed, and what a claim under way asked for. */
  private taken(): number {
    return this.inFlight.size + this.reserved + this.claiming;
  }

  /** A claimed message sent within the limits; its end frees the slot (and wakes the loop if rows may wait). */
  private dispatch(message: SmsMessage): void {
    const run = this.dispatcher
      .process(message, () => this.gate.take())
      .then((result) => {
        if (!result.final && 'retryAt' in result) this.wakeAt(result.retryAt.getTime());
      })
      .catch((error) =>
        this.logger.error(`Dispatching SMS ${message.id} failed: ${error instanceof Error ? error.message : String(error)}`),
      )
      .finally(() => {
        this.inFlight.delete(run);
        if (this.mayHaveDue) this.wake();
      });
    this.inFlight.add(run);
  }
}
