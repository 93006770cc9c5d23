import type { Redis } from 'ioredis';

/** How the window is cut: the same figures as each instance's own circuit (ProviderCircuit). */
export interface OutageWindowRules {
  /** Calls in the window, all instances together, before the provider may be judged down. */
  minCalls: number;
  /** Share of those calls that failed as an outage above which it is. */
  failurePercent: number;
  windowMs: number;
  slices: number;
  /** How long calls then stop on every instance (SMS_CIRCUIT_RESET_MS). */
  pauseMs: number;
}

/** What the window says when the pause it shares begins or ends on this instance. */
export interface OutageWindowListener {
  /** `counts`: the window's figures when this instance judged the provider down; null when another instance did. */
  paused(untilMs: number, counts: { calls: number; failures: number } | null): void;
  resumed(): void;
}

/** How often an instance reads the shared pause (one GET): another instance's pause reaches it within this. */
export const SHARED_PAUSE_POLL_MS = 500;

/**
 * The outage view the instances share through Redis (with REDIS_URL): every call's outcome counted in one rolling window
 * for all of them (a hash per slice of `windowMs / slices`), and one pause key that every instance obeys. BullMQ spreads
 * SMS_MAX_PER_SECOND over the instances, so each one alone may never see `minCalls` calls in its window: two instances
 * at 1 SMS a second each saw five calls in 10 s, and neither circuit ever opened while Twilio was down (every message
 * failed after SMS_OUTAGE_RETRY_MS, at the full rate). The instance whose outcome tips the window sets the pause
 * (`SET NX PX`: one of them) and empties the window; the others read it within SHARED_PAUSE_POLL_MS.
 *
 * Redis away: nothing is shared (each instance's own circuit still works); nothing waits for Redis on a send (the
 * counts are written after the call, without waiting).
 */
export class SharedOutageWindow {
  private untilMs = 0;
  /** Whether the listener was last told `paused`. */
  private paused = false;
  private readonly polling: NodeJS.Timeout;
  private readonly sliceMs: number;

  constructor(
    private readonly redis: Redis,
    /** REDIS_KEY_PREFIX and this window's name: `sms-backbone:sms-circuit:`. */
    private readonly prefix: string,
    private readonly rules: OutageWindowRules,
    private readonly listener: OutageWindowListener,
  ) {
    this.sliceMs = rules.windowMs / rules.slices;
    this.polling = setInterval(() => void this.poll(), SHARED_PAUSE_POLL_MS);
    this.polling.unref();
  }

  /** Until when (ms) the instances together pause their calls; 0 or past: no shared pause. */
  get pausedUntilMs(): number {
    return this.untilMs;
  }

  /** Counts one call's outcome (an outage or not), without waiting; an outage may start the shared pause. */
  record(outage: boolean, now = Date.now()): void {
    void this.count(outage, now).catch(() => undefined);
  }

  stop(): void {
    clearInterval(this.polling);
  }

  private sliceKey(slice: number): string {
    return `${this.prefix}calls:${slice}`;
  }

  private async count(outage: boolean, now: number): Promise<void> {
    const current = Math.floor(now / this.sliceMs);
    const key = this.sliceKey(current);
    const write = this.redis.multi().hincrby(key, 'calls', 1);
    if (outage) write.hincrby(key, 'failures', 1);
    await write.pexpire(key, this.rules.windowMs * 2).exec();
    if (!outage) return;

    const keys = Array.from({ length: this.rules.slices }, (_, i) => this.sliceKey(current - i));
    const read = this.redis.pipeline();
    for (const each of keys) read.hmget(each, 'calls', 'failures');
    let calls = 0;
    let failures = 0;
    for (const [error, values] of (await read.exec()) ?? []) {
      if (error) throw error;
      const [c, f] = values as (string | null)[];
      calls += Number(c ?? 0);
      failures += Number(f ?? 0);
    }
    if (calls < this.rules.minCalls || failures * 100 <= calls * this.rules.failurePercent) return;
    const until = now + this.rules.pauseMs;
    if ((await this.redis.set(`${this.prefix}paused-until`, String(until), 'PX', this.rules.pauseMs, 'NX')) !== 'OK') return;
    // A new window after the pause: the failures that started it do not start the next one.
    await this.redis.del(...keys);
    this.apply(until, { calls, failures });
  }

  private async poll(): Promise<void> {
    try {
      await this.refresh();
    } catch {
      // Redis away: a pause that has run its course ends here too (its metric and its "calls resume" line), not when
      // Redis answers again.
      if (this.untilMs <= Date.now()) this.apply(0, null);
    }
  }

  /**
   * Reads the pause's time left, not the end the setter wrote: each instance counts it on its own clock, so clocks that
   * differ between hosts neither skip a pause nor stretch it.
   */
  private async refresh(): Promise<void> {
    const leftMs = await this.redis.pttl(`${this.prefix}paused-until`);
    this.apply(leftMs > 0 ? Date.now() + leftMs : 0, null);
  }

  /** Takes the shared pause's end in, and tells the listener when this instance enters or leaves it. */
  private apply(untilMs: number, counts: { calls: number; failures: number } | null): void {
    if (untilMs > Date.now()) {
      // The time left as read now (refresh), or this instance's own end when it set the pause.
      this.untilMs = untilMs;
      if (this.paused && !counts) return;
      this.paused = true;
      this.listener.paused(this.untilMs, counts);
    } else if (this.paused) {
      // The key expired (or was removed): calls resume.
      this.paused = false;
      this.untilMs = 0;
      this.listener.resumed();
    }
  }
}
