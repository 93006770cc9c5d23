import { RetryLines } from './retry-lines.js';

describe('RetryLines', () => {
  it('says a retried failure at once, then at most once a minute per code with how many more came', () => {
    const lines: string[] = [];
    const sut = new RetryLines({ warn: (m: string) => void lines.push(m) });
    sut.failed('NETWORK', 'connect ECONNREFUSED 127.0.0.1:4999', 0);
    sut.failed('NETWORK', 'connect ECONNREFUSED 127.0.0.1:4999', 1_000);
    sut.failed('NETWORK', 'connect ECONNREFUSED 127.0.0.1:4999', 2_000);
    sut.failed('TIMEOUT', 'timed out after 10000 ms', 3_000);
    sut.failed('NETWORK', 'connect ECONNREFUSED 127.0.0.1:4999', 60_000);
    expect(lines).toEqual([
      'An SMS attempt failed with NETWORK, retried later: connect ECONNREFUSED 127.0.0.1:4999',
      'An SMS attempt failed with TIMEOUT, retried later: timed out after 10000 ms',
      'An SMS attempt failed with NETWORK, retried later (and 2 more since the last such line): connect ECONNREFUSED 127.0.0.1:4999',
    ]);
  });
});
