/**
 * Window length: a second plus a little, so that the jitter between our call starting and the request
 * reaching the provider (connection set-up, a busy event loop) does not squeeze more than `perSecond`
 * arrivals into one of the provider's seconds. Costs 2.5 % of the rate.
 */
const WINDOW_MS = 1025;

/**
 * At most `perSecond` passes in any sliding window of WINDOW_MS, taken right before each provider call (so
 * the limit holds where it matters, not at claim time). Callers wait their turn in order.
 */
export class RateGate {
  private readonly passes: number[] = [];
  private tail: Promise<void> = Promise.resolve();

  constructor(
    private readonly perSecond: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** How many passes the gate lets through within `ms` from an empty start (at least 1). */
  passesWithin(ms: number): number {
    return Math.max(1, Math.floor((this.perSecond * ms) / WINDOW_MS));
  }

  take(): Promise<void> {
    const turn = this.tail.then(() => this.pass());
    this.tail = turn.catch(() => undefined);
    return turn;
  }

  private async pass(): Promise<void> {
    for (;;) {
      const now = this.now();
      while (this.passes.length && this.passes[0] <= now - WINDOW_MS) this.passes.shift();
      if (this.passes.length < this.perSecond) {
        this.passes.push(now);
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, this.passes[0] + WINDOW_MS - now + 1));
    }
  }
}
