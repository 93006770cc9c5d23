import { ErrorCode } from 'bullmq';
import { Logger } from '@nestjs/common';
import { EventEmitter } from 'node:events';
import { vi } from 'vitest';
import type { AppConfig } from '../../config/app-config.js';
import type { RedisBootWait } from '../../redis/redis.module.js';
import { BullmqDispatchQueue } from './bullmq-dispatch-queue.js';
import type { SmsDispatcher } from './sms-dispatcher.js';
import type { SmsOutbox } from './sms-outbox.js';

describe('BullmqDispatchQueue error lines', () => {
  const build = () =>
    new BullmqDispatchQueue(
      new EventEmitter() as never,
      {} as SmsOutbox,
      {} as SmsDispatcher,
      {} as AppConfig['dispatch'],
      {} as RedisBootWait,
    );

  afterEach(() => vi.restoreAllMocks());

  it('does not take a lost job lock for a Redis outage: a warning, and the next real outage still gets its line', () => {
    const error = vi.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    const warn = vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const queue = build();

    queue.onWorkerError(new Error('Missing lock for job 8b0f. moveToFinished'));
    queue.onWorkerError(new Error('Lock mismatch for job 8b0f. Cmd moveToFinished from active'));
    expect(error).not.toHaveBeenCalled();
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0]![0]).toMatch(/^BullMQ worker: 1 job lock\(s\) lost while their job ran \(last: Missing lock for job 8b0f/);

    // Known by BullMQ's error code, whatever its wording.
    queue.onWorkerError(Object.assign(new Error('Lock for job 8b0f is gone'), { code: ErrorCode.JobLockNotExist }));
    expect(error).not.toHaveBeenCalled();
    // The job itself gone while it ran (Redis flushed, a key evicted): not an outage either.
    queue.onWorkerError(new Error('Missing key for job 8b0f. moveToFinished'));
    queue.onWorkerError(Object.assign(new Error('Job 8b0f is gone'), { code: ErrorCode.JobNotExist }));
    expect(error).not.toHaveBeenCalled();

    queue.onWorkerError(new Error('connect ECONNREFUSED 127.0.0.1:6379'));
    queue.onWorkerError(new Error('connect ECONNREFUSED 127.0.0.1:6379'));
    expect(error).toHaveBeenCalledTimes(1);
    expect(error.mock.calls[0]![0]).toBe('BullMQ worker: connect ECONNREFUSED 127.0.0.1:6379 (the dispatcher waits for Redis)');
  });

  it('says how many locks were lost since its last line, at most one line per 10 s, and a burst once its 10 s are over', () => {
    vi.useFakeTimers({ now: new Date('2026-11-27T10:00:00Z') });
    try {
      const warn = vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
      const queue = build();
      for (let i = 0; i < 5; i++) queue.onWorkerError(new Error(`Missing lock for job ${i}. moveToFinished`));
      expect(warn).toHaveBeenCalledTimes(1);
      // The 4 after the first line are said when its 10 s are over, with nothing more coming.
      vi.advanceTimersByTime(10_000);
      expect(warn).toHaveBeenCalledTimes(2);
      expect(warn.mock.calls[1]![0]).toMatch(/^BullMQ worker: 4 job lock\(s\) lost while their job ran \(last: Missing lock for job 4/);
      vi.advanceTimersByTime(11_000);
      queue.onWorkerError(new Error('could not renew lock for job 9'));
      expect(warn).toHaveBeenCalledTimes(3);
      expect(warn.mock.calls[2]![0]).toMatch(/^BullMQ worker: 1 job lock\(s\) lost/);
    } finally {
      vi.useRealTimers();
    }
  });
});
