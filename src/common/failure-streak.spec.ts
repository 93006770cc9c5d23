import { FailureStreak } from './failure-streak.js';

describe('FailureStreak', () => {
  it('says a failure once per streak and its end once', () => {
    const lines: string[] = [];
    const logger = {
      warn: (m: string) => void lines.push(`warn ${m}`),
      error: (m: string) => void lines.push(`error ${m}`),
      log: (m: string) => void lines.push(`log ${m}`),
    };
    const sut = new FailureStreak(logger, 'SMS sweep', 'warn');
    sut.succeeded();
    for (let i = 0; i < 5; i++) sut.failed(new Error('connect ECONNREFUSED 127.0.0.1:5432'));
    sut.succeeded();
    sut.succeeded();
    sut.failed('timeout');
    expect(lines).toEqual([
      'warn SMS sweep failed: connect ECONNREFUSED 127.0.0.1:5432 (said once until it works again)',
      'log SMS sweep works again after 5 failed run(s)',
      'warn SMS sweep failed: timeout (said once until it works again)',
    ]);
  });
});
