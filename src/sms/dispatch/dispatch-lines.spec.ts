import { DispatchLines } from './dispatch-lines.js';

describe('DispatchLines', () => {
  beforeEach(() => vi.useFakeTimers({ now: 0 }));
  afterEach(() => vi.useRealTimers());

  it('says a retried failure at once, then at most once a minute per code, the rest summed when the minute is over', () => {
    const lines: string[] = [];
    const sut = new DispatchLines({ warn: (m: string) => void lines.push(m) });
    sut.retried('NETWORK', 'connect ECONNREFUSED 127.0.0.1:4999');
    vi.advanceTimersByTime(1_000);
    sut.retried('NETWORK', 'connect ECONNREFUSED 127.0.0.1:4999');
    vi.advanceTimersByTime(1_000);
    sut.retried('NETWORK', 'connect ECONNREFUSED 127.0.0.1:4999');
    sut.retried('TIMEOUT', 'timed out after 10000 ms');
    expect(lines).toEqual([
      'An SMS attempt failed with NETWORK, retried later: connect ECONNREFUSED 127.0.0.1:4999',
      'An SMS attempt failed with TIMEOUT, retried later: timed out after 10000 ms',
    ]);
    // The minute after the first NETWORK line: the two held since are said, with nothing more coming.
    vi.advanceTimersByTime(57_999);
    expect(lines).toHaveLength(2);
    vi.advanceTimersByTime(1);
    expect(lines[2]).toBe(
      'An SMS attempt failed with NETWORK, retried later (and 1 more since the last such line): connect ECONNREFUSED 127.0.0.1:4999',
    );
    // The next one within a minute of that line waits for its own minute.
    sut.retried('NETWORK', 'connect ECONNREFUSED 127.0.0.1:4999');
    expect(lines).toHaveLength(3);
    vi.advanceTimersByTime(60_000);
    expect(lines[3]).toBe('An SMS attempt failed with NETWORK, retried later: connect ECONNREFUSED 127.0.0.1:4999');
    vi.advanceTimersByTime(10 * 60_000);
    expect(lines).toHaveLength(4);
  });

  it('says the messages taken over after a stopped worker, found at Twilio or not, and what is held at shutdown', () => {
    const lines: string[] = [];
    const sut = new DispatchLines({ warn: (m: string) => void lines.push(m) });
    for (let i = 0; i < 500; i++) sut.takenOver(i % 5 !== 0);
    expect(lines).toEqual([
      'An SMS left mid-send by a stopped worker (lease expired) was not at Twilio: sent now',
      'An SMS left mid-send by a stopped worker (lease expired) was at Twilio: stored as sent, not sent again',
    ]);
    sut.close();
    expect(lines.slice(2).sort()).toEqual([
      'An SMS left mid-send by a stopped worker (lease expired) was at Twilio: stored as sent, not sent again (and 398 more since the last such line)',
      'An SMS left mid-send by a stopped worker (lease expired) was not at Twilio: sent now (and 98 more since the last such line)',
    ]);
    vi.advanceTimersByTime(10 * 60_000);
    expect(lines).toHaveLength(4);
    // Closed: a later one is said at once, no timer left behind.
    sut.takenOver(true);
    expect(lines).toHaveLength(5);
    expect(vi.getTimerCount()).toBe(0);
  });
});
