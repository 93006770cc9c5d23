/**
 * How often something that happens again and again is written down, per key: the refusal journals (sms_webhook_refused,
 * access_denied: src/audit/refusal-journal.ts). Log lines that come in bursts: ThrottledLines (it says a window's
 * count when the window ends, not at the next event).
 */
export interface ThrottleOptions {
  /** At most one entry per key (who was refused what: an IP, a user, a route…) per this many ms. */
  windowMs: number;
  /** Keys remembered at most (memory bound); beyond, the oldest is forgotten. */
  maxKeys: number;
  /** Entries written at most per `windowMs`, all keys together (bound on the writes; Infinity: none). */
  maxEntriesPerWindow: number;
}

export type ThrottleDecision =
  /** Write one entry standing for `count` events (this one included), the first of them at `firstAt` (ms). */
  | { journal: true; count: number; firstAt: number }
  /** Counted on the key, summed into its next entry. `capReached`: the first event held back by the global cap in this window. */
  | { journal: false; capReached: boolean };

interface KeyState {
  /** When this key's last entry was written (its window's start); -Infinity if never. */
  windowStart: number;
  /** Refusals not journaled yet, and when the first of them came. */
  pending: number;
  pendingSince: number;
}

/**
 * Which of a key's events are written down, so that a caller cannot write one row per request (the public webhook
 * routes' refusals, by client IP, route and reason; a route's role refusals, by user and route). Per key: the first event of a window is written
 * at once (a single misconfiguration shows up at once), the others of that window are only counted here, and summed
 * into the next entry written for that key (the first event after the window). In memory, per instance: with several
 * instances each one writes at most once per key and window.
 *
 * Two bounds hold under a flood from many addresses (IPv6, or spoofed X-Forwarded-For with TRUST_PROXY=true):
 * - memory: at most `maxKeys` keys; a new key beyond it forgets the oldest one (least recently journaled or
 *   created), whose not-yet-journaled count is then lost to the journal (the metric and WebhookRefusals keep it);
 * - writes: at most `maxEntriesPerWindow` entries per window, all keys together; beyond, a refusal stays counted
 *   on its key (summed into that key's next entry once the budget allows) and the metric counts it as always.
 * Refusals of a key that never refuses again after its window stay in the metric only.
 */
export class KeyedThrottle {
  /** Insertion order = oldest first: a key is moved to the end when it is created or journaled. */
  private readonly keys = new Map<string, KeyState>();
  private globalStart = -Infinity;
  private globalEntries = 0;
  private capWarned = false;

  constructor(private readonly options: ThrottleOptions) {}

  get size(): number {
    return this.keys.size;
  }

  /** Records one event (a refusal…) for `key` at `now` (ms) and says whether to write it down, and for how many events. */
  record(key: string, now: number): ThrottleDecision {
    const { windowMs } = this.options;
    let state = this.keys.get(key);
    if (!state) {
      this.makeRoom(now);
      state = { windowStart: -Infinity, pending: 0, pendingSince: now };
      this.keys.set(key, state);
    }
    if (state.pending === 0) state.pendingSince = now;
    state.pending++;
    if (now - state.windowStart < windowMs) return { journal: false, capReached: false };

    if (now - this.globalStart >= windowMs) {
      this.globalStart = now;
      this.globalEntries = 0;
      this.capWarned = false;
    }
    if (this.globalEntries >= this.options.maxEntriesPerWindow) {
      const first = !this.capWarned;
      this.capWarned = true;
      return { journal: false, capReached: first };
    }
    this.globalEntries++;
    const decision = { journal: true as const, count: state.pending, firstAt: state.pendingSince };
    state.windowStart = now;
    state.pending = 0;
    this.keys.delete(key);
    this.keys.set(key, state);
    return decision;
  }

  /** Forgets keys that carry nothing (window over, nothing pending) from the oldest end, then the oldest beyond maxKeys. */
  private makeRoom(now: number): void {
    for (const [key, state] of this.keys) {
      const idle = state.pending === 0 && now - state.windowStart >= this.options.windowMs;
      if (!idle && this.keys.size < this.options.maxKeys) break;
      this.keys.delete(key);
    }
  }
}
