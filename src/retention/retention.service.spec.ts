import { Logger } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import type { DataSource } from 'typeorm';
import { vi } from 'vitest';
import type { AuditService } from '../audit/audit.service.js';
import type { Clock } from '../common/clock.js';
import { AppConfig } from '../config/app-config.js';
import { RetentionService } from './retention.service.js';

describe('RetentionService at boot', () => {
  const boot = (env: Record<string, string>) => {
    const lines: string[] = [];
    vi.spyOn(Logger.prototype, 'log').mockImplementation((m: unknown) => void lines.push(`log ${String(m)}`));
    vi.spyOn(Logger.prototype, 'warn').mockImplementation((m: unknown) => void lines.push(`warn ${String(m)}`));
    const scheduler = new SchedulerRegistry();
    const sut = new RetentionService({} as DataSource, {} as AuditService, {} as Clock, AppConfig.fromEnvironment(env), scheduler, []);
    sut.onApplicationBootstrap();
    return { lines, scheduler, sut };
  };
  afterEach(() => vi.restoreAllMocks());

  it('says that it is on, how far back and how often', async () => {
    const { lines, scheduler, sut } = boot({ RETENTION_DAYS: '30', RETENTION_INTERVAL_MINUTES: '120' });
    expect(lines).toEqual(['log Retention on: personal data older than 30 days purged every 120 minutes (first pass in 5 minutes)']);
    expect(scheduler.doesExist('interval', 'retention-purge')).toBe(true);
    await sut.onApplicationShutdown();
  });

  it('says when RETENTION_* settings are given without RETENTION_DAYS: they change nothing', () => {
    const { lines, scheduler } = boot({ RETENTION_INTERVAL_MINUTES: '5', RETENTION_CHUNK_SIZE: '100' });
    expect(lines).toEqual([
      'warn RETENTION_INTERVAL_MINUTES, RETENTION_CHUNK_SIZE set without RETENTION_DAYS: retention is off, nothing is purged',
    ]);
    expect(scheduler.doesExist('interval', 'retention-purge')).toBe(false);
    expect(boot({}).lines).toEqual([]);
  });
});
