import { ThrottledLines } from './throttled-lines.js';

describe('ThrottledLines', () => {
  beforeEach(() => vi.useFakeTimers({ now: 0 }));
  afterEach(() => vi.useRealTimers());

  it('keeps one window per key: another key is said at once', () => {
    const lines: string[] = [];
    const sut = new ThrottledLines((line) => lines.push(line), 1_000);
    for (const key of ['a', 'b', 'a', 'b', 'a']) sut.say(key, (more) => `${key}+${more}`);
    expect(lines).toEqual(['a+0', 'b+0']);
    vi.advanceTimersByTime(1_000);
    expect(lines).toEqual(['a+0', 'b+0', 'a+1', 'b+0']);
  });

  it('remembers at most maxKeys keys: the oldest one said is forgotten (said at once again), never one holding lines', () => {
    const lines: string[] = [];
    const sut = new ThrottledLines((line) => lines.push(line), 1_000, 2);
    sut.say('a', () => 'a');
    sut.say('a', (more) => `a held +${more}`);
    sut.say('b', () => 'b');
    sut.say('c', () => 'c');
    // 'a' holds a line: 'b', the oldest holding none, was forgotten.
    sut.say('b', () => 'b again');
    expect(lines).toEqual(['a', 'b', 'c', 'b again']);
    vi.advanceTimersByTime(1_000);
    expect(lines).toContain('a held +0');
  });
});
