import { KeyedThrottle, type ThrottleDecision } from './keyed-throttle.js';

const WINDOW = 60_000;
const throttle = (options: Partial<{ maxKeys: number; maxEntriesPerWindow: number }> = {}) =>
  new KeyedThrottle({ windowMs: WINDOW, maxKeys: 10_000, maxEntriesPerWindow: 1_000, ...options });
const journaled = (decisions: ThrottleDecision[]) => decisions.filter((d) => d.journal);

describe('KeyedThrottle', () => {
  it('journals the first refusal of a key at once, counts the rest of its window, and sums them into the next entry', () => {
    const t = throttle();
    expect(t.record('ip route reason', 1_000)).toEqual({ journal: true, count: 1, firstAt: 1_000 });
    const rest = Array.from({ length: 29 }, (_, i) => t.record('ip route reason', 2_000 + i));
    expect(journaled(rest)).toEqual([]);
    // Still inside the window (it started at 1 000): counted, not journaled.
    expect(t.record('ip route reason', 1_000 + WINDOW - 1)).toEqual({ journal: false, capReached: false });
    // The first refusal after the window stands for the 30 held back and itself, from the first held back.
    expect(t.record('ip route reason', 1_000 + WINDOW)).toEqual({ journal: true, count: 31, firstAt: 2_000 });
    // A new window starts with that entry: nothing pending, the next one waits again.
    expect(t.record('ip route reason', 1_000 + WINDOW + 1)).toEqual({ journal: false, capReached: false });
    expect(t.record('ip route reason', 1_000 + 3 * WINDOW)).toEqual({ journal: true, count: 2, firstAt: 1_000 + WINDOW + 1 });
    // A lone refusal long after: an entry of one.
    expect(t.record('ip route reason', 1_000 + 10 * WINDOW)).toEqual({ journal: true, count: 1, firstAt: 1_000 + 10 * WINDOW });
  });

  it('keeps one window per client IP, route and reason', () => {
    const t = throttle();
    const keys = ['1.2.3.4 /status missing', '1.2.3.4 /status invalid', '1.2.3.4 /inbound missing', '5.6.7.8 /status missing'];
    for (let round = 0; round < 5; round++)
      for (const key of keys) expect(t.record(key, 100 + round).journal, `${key} #${round}`).toBe(round === 0);
    expect(t.size).toBe(4);
  });

  it('bounds the keys it remembers: the oldest is forgotten beyond maxKeys, idle keys first', () => {
    const t = throttle({ maxKeys: 3 });
    for (const ip of ['a', 'b', 'c']) expect(t.record(ip, 0).journal).toBe(true);
    t.record('a', 10); // pending on a
    // A fourth key forgets the oldest (a), whose held-back refusal is then lost to the journal (not to the metric).
    expect(t.record('d', 20).journal).toBe(true);
    expect(t.size).toBe(3);
    expect(t.record('a', 30)).toEqual({ journal: true, count: 1, firstAt: 30 });
    expect(t.size).toBe(3);
    // 'b' was forgotten to make room for 'a': it is journaled again within its old window.
    expect(t.record('b', 40).journal).toBe(true);
    // After the window, keys with nothing pending are dropped first: memory stays bounded under any flood.
    for (let i = 0; i < 1_000; i++) t.record(`flood-${i}`, WINDOW * 2 + i);
    expect(t.size).toBe(3);
  });

  it('writes at most maxEntriesPerWindow entries per window, all keys together; the rest is summed into later entries', () => {
    const t = throttle({ maxEntriesPerWindow: 5 });
    const decisions = Array.from({ length: 50 }, (_, i) => t.record(`ip-${i}`, 1_000 + i));
    expect(journaled(decisions)).toHaveLength(5);
    // The first refusal held back by the cap says so (once per window, for a warning), the others do not.
    expect(decisions.filter((d) => !d.journal && d.capReached)).toHaveLength(1);
    expect(decisions[5]).toEqual({ journal: false, capReached: true });
    // Next window: a key held back by the cap is journaled with its count.
    expect(t.record('ip-7', 1_000 + WINDOW)).toEqual({ journal: true, count: 2, firstAt: 1_007 });
  });

  it('under a flood from many addresses, memory and entries stay bounded', () => {
    const t = throttle({ maxKeys: 100, maxEntriesPerWindow: 10 });
    let entries = 0;
    for (let i = 0; i < 100_000; i++) if (t.record(`2001:db8::${i.toString(16)}`, i).journal) entries++;
    // 100 000 ms = two windows (and the start of a third): at most 10 entries each.
    expect(entries).toBeLessThanOrEqual(20);
    expect(t.size).toBeLessThanOrEqual(100);
  });
});
