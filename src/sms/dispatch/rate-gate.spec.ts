import { RateGate } from './rate-gate.js';

describe(RateGate.name, () => {
  afterEach(() => vi.useRealTimers());

  it('lets perSecond passes through at once, then one more each time the oldest leaves the window', async () => {
    vi.useFakeTimers();
    const gate = new RateGate(3);
    const passed: number[] = [];
    const start = Date.now();
    for (let i = 0; i < 7; i++) void gate.take().then(() => passed.push(Date.now() - start));
    await vi.advanceTimersByTimeAsync(0);
    expect(passed).toEqual([0, 0, 0]);
    await vi.advanceTimersByTimeAsync(1100);
    expect(passed).toHaveLength(6);
    await vi.advanceTimersByTimeAsync(1100);
    expect(passed).toHaveLength(7);
    // Never more than 3 within any 1,000 ms.
    for (let i = 3; i < passed.length; i++) expect(passed[i] - passed[i - 3]).toBeGreaterThanOrEqual(1000);
  });
});
