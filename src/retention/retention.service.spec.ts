import { Logger } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import type { DataSource } from 'typeorm';
import { vi } from 'vitest';
import type { AuditService } from '../audit/audit.service.js';
import type { Clock } from '../common/clock.js';
import { AppConfig } from '../config/app-config.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { RetentionService } from './retention.service.js';

describe('RetentionService at boot', () => {
  const boot = (env: Record<string, string>) => {
    const lines: string[] = [];
    vi.spyOn(Logger.prototype, 'log').mockImplementation((m: unknown) => void lines.push(`log ${String(m)}`));
    vi.spyOn(Logger.prototype, 'warn').mockImplementation((m: unknown) => void lines.push(`warn ${String(m)}`));
    const scheduler = new SchedulerRegistry();
    const sut = new RetentionService(
      {} as DataSource,
      {} as AuditService,
      {} as Clock,
      AppConfig.fromEnvironment(env),
      scheduler,
      [],
      {} as MetricsService,
    );
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

describe('RetentionService metrics', () => {
  it('counts a failed pass (the database lost halfway), the rows its chunks purged before, and leaves the last success', async () => {
    const metrics = new MetricsService();
    // The first step's chunk deletes 3 rows (committed), the second step's fails.
    const query = vi.fn().mockResolvedValueOnce({ affected: 3 }).mockRejectedValueOnce(new Error('connect ECONNREFUSED'));
    const failing = {
      options: { type: 'postgres' },
      createQueryRunner: () => ({ query, release: () => Promise.resolve() }),
    } as unknown as DataSource;
    const sut = new RetentionService(
      failing,
      {} as AuditService,
      { now: () => new Date('2030-01-01T00:00:00Z') } as Clock,
      AppConfig.fromEnvironment({ RETENTION_DAYS: '30' }),
      new SchedulerRegistry(),
      [
        { name: 'inboundMessages', kind: 'delete', table: 'sms_inbound_messages', timeColumn: 'received_at' },
        { name: 'auditLogs', kind: 'delete', table: 'audit_logs', timeColumn: 'created_at' },
      ],
      metrics,
    );
    await expect(sut.purge()).rejects.toThrow('ECONNREFUSED');
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/^retention_passes_total\{outcome="failed"\} 1$/m);
    expect(text).toMatch(/^retention_rows_purged_total\{step="inboundMessages"\} 3$/m);
    expect(text).not.toMatch(/^retention_rows_purged_total\{step="auditLogs"\}/m);
    expect(text).toMatch(/^retention_last_success_timestamp_seconds nan$/im);
    metrics.onModuleDestroy();
  });
});
