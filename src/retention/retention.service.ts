import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { setTimeout as sleep } from 'node:timers/promises';
import { DataSource } from 'typeorm';
import { AuditAction } from '../audit/audit-action.enum.js';
import { AuditService } from '../audit/audit.service.js';
import { Clock } from '../common/clock.js';
import { describeError } from '../common/log-safe.js';
import { AppConfig } from '../config/app-config.js';
import { MetricsService } from '../metrics/metrics.service.js';
import type { Bind, PurgeStep } from './retention-steps.js';

/** Injection token of the purge steps (RETENTION_STEPS). */
export const PURGE_STEPS = Symbol('PURGE_STEPS');

const INTERVAL_NAME = 'retention-purge';
const FIRST_RUN_NAME = 'retention-purge-first';
/** The first pass after boot comes this soon (or at the interval, if shorter), so frequent restarts never starve it. */
const FIRST_RUN_DELAY_MS = 5 * 60_000;

export interface StepReport {
  /** Rows purged (scrubbed or deleted). */
  rows: number;
  /** Statements run, one per chunk. */
  statements: number;
}

export interface PurgeReport {
  cutoff: Date;
  steps: Record<string, StepReport>;
  /** The pass stopped early because the application is shutting down. */
  interrupted: boolean;
}

const quote = (name: string): string => `"${name.replace(/"/g, '""')}"`;

/**
 * Data retention (GDPR), on when RETENTION_DAYS is set: every RETENTION_INTERVAL_MINUTES each instance removes the
 * personal data older than RETENTION_DAYS, step by step (RETENTION_STEPS). Each step works in chunks of
 * RETENTION_CHUNK_SIZE rows, one short statement each (`… WHERE id IN (SELECT id … LIMIT n)`, rows locked with
 * SKIP LOCKED on PostgreSQL), with a pause of RETENTION_CHUNK_PAUSE_MS between chunks, so no table is held for
 * long and sends go on meanwhile. Idempotent: a purged message is marked and skipped, a deleted row is gone, so
 * instances running at the same time only share the work. A pass that purged something is journaled
 * (`retention_purge`, with the counts).
 */
@Injectable()
export class RetentionService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Retention');
  private running: Promise<PurgeReport> | null = null;
  private stopping = false;

  constructor(
    private readonly dataSource: DataSource,
    private readonly audit: AuditService,
    private readonly clock: Clock,
    private readonly config: AppConfig,
    private readonly scheduler: SchedulerRegistry,
    @Inject(PURGE_STEPS) private readonly steps: readonly PurgeStep[],
    private readonly metrics: MetricsService,
  ) {}

  onApplicationBootstrap(): void {
    const retention = this.config.retention;
    if (!retention) {
      const ignored = this.config.retentionSettingsIgnored;
      if (ignored.length) this.logger.warn(`${ignored.join(', ')} set without RETENTION_DAYS: retention is off, nothing is purged`);
      return;
    }
    const intervalMs = retention.intervalMinutes * 60_000;
    this.logger.log(
      `Retention on: personal data older than ${retention.days} days purged every ${retention.intervalMinutes} minutes (first pass in ${Math.min(FIRST_RUN_DELAY_MS, intervalMs) / 60_000} minutes)`,
    );
    const run = () => void this.purge().catch((error) => this.logger.error(`Retention purge failed: ${describeError(error)}`));
    const first = setTimeout(run, Math.min(FIRST_RUN_DELAY_MS, intervalMs));
    first.unref();
    this.scheduler.addTimeout(FIRST_RUN_NAME, first);
    const interval = setInterval(run, intervalMs);
    interval.unref();
    this.scheduler.addInterval(INTERVAL_NAME, interval);
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopping = true;
    if (this.scheduler.doesExist('timeout', FIRST_RUN_NAME)) this.scheduler.deleteTimeout(FIRST_RUN_NAME);
    if (this.scheduler.doesExist('interval', INTERVAL_NAME)) this.scheduler.deleteInterval(INTERVAL_NAME);
    await this.running?.catch(() => undefined);
  }

  /** One pass over every step (no-op report when retention is off); overlapping calls share the pass under way. */
  purge(): Promise<PurgeReport> {
    this.running ??= this.purgeOnce()
      .catch((error: unknown) => {
        this.metrics.retentionPass('failed');
        throw error;
      })
      .finally(() => (this.running = null));
    return this.running;
  }

  private async purgeOnce(): Promise<PurgeReport> {
    const now = this.clock.now();
    const retention = this.config.retention;
    const report: PurgeReport = { cutoff: now, steps: {}, interrupted: false };
    if (!retention) return report;
    const cutoff = new Date(now.getTime() - retention.days * 86_400_000);
    report.cutoff = cutoff;
    for (const step of this.steps) {
      const result: StepReport = { rows: 0, statements: 0 };
      report.steps[step.name] = result;
      for (;;) {
        if (this.stopping) {
          report.interrupted = true;
          break;
        }
        const affected = await this.runChunk(step, cutoff, now, retention.chunkSize);
        result.statements += 1;
        result.rows += affected;
        this.metrics.retentionPurged(step.name, affected);
        if (affected < retention.chunkSize) break;
        if (retention.chunkPauseMs > 0) await sleep(retention.chunkPauseMs);
      }
      if (report.interrupted) break;
    }
    const counts = Object.fromEntries(Object.entries(report.steps).map(([name, step]) => [name, step.rows]));
    if (Object.values(counts).some((n) => n > 0)) {
      await this.audit.record({
        action: AuditAction.RetentionPurge,
        actor: null,
        metadata: {
          retentionDays: retention.days,
          cutoff: cutoff.toISOString(),
          ...counts,
          ...(report.interrupted ? { interrupted: true } : {}),
        },
      });
      this.logger.log(`Retention purge (older than ${cutoff.toISOString()}): ${JSON.stringify(counts)}`);
    }
    this.metrics.retentionPass(report.interrupted ? 'interrupted' : 'ok');
    return report;
  }

  /** One chunk of one step: a single statement over at most `limit` rows; returns the rows it changed. */
  private async runChunk(step: PurgeStep, cutoff: Date, now: Date, limit: number): Promise<number> {
    const { sql, params } = this.statement(step, cutoff, now, limit);
    const runner = this.dataSource.createQueryRunner();
    try {
      const result = (await runner.query(sql, params, true)) as { affected?: number | null };
      return result.affected ?? 0;
    } finally {
      await runner.release();
    }
  }

  /**
   * The SQL of one chunk, for both databases. On PostgreSQL the chunk's ids are taken first in a MATERIALIZED CTE
   * (evaluated once: a `LIMIT … FOR UPDATE SKIP LOCKED` subquery inside `IN` may be rescanned and change more rows
   * than the limit), skipping rows another transaction holds; SQLite evaluates the `IN (SELECT … LIMIT n)` once.
   */
  statement(step: PurgeStep, cutoff: Date, now: Date, limit: number): { sql: string; params: unknown[] } {
    const postgres = this.dataSource.options.type === 'postgres';
    const params: unknown[] = [];
    // Instants as each database stores them: a Date for pg (timestamptz), TypeORM's UTC text on SQLite. Values
    // are bound in the order their placeholders appear in the SQLite text (its `?` are positional).
    const bind: Bind = (value) => {
      params.push(value instanceof Date && !postgres ? value.toISOString().replace('T', ' ').replace('Z', '') : value);
      return postgres ? `$${params.length}` : '?';
    };
    const table = quote(step.table);
    const time = quote(step.timeColumn);
    const chunk = (conditions: string) =>
      `SELECT "id" FROM ${table} WHERE ${conditions} ORDER BY ${time} LIMIT ${limit}${postgres ? ' FOR UPDATE SKIP LOCKED' : ''}`;
    const wrap = (select: string, write: (ids: string) => string) =>
      postgres ? `WITH "chunk" AS MATERIALIZED (${select}) ${write('SELECT "id" FROM "chunk"')}` : write(select);

    if (step.kind === 'delete') {
      const conditions = `${time} < ${bind(cutoff)}${step.where ? ` AND (${step.where(bind, cutoff)})` : ''}`;
      return { sql: wrap(chunk(conditions), (ids) => `DELETE FROM ${table} WHERE "id" IN (${ids})`), params };
    }
    // Assignments first: on SQLite they come first in the text; pg's placeholders are numbered, any order works.
    const entries = Object.entries(step.set);
    const assignments = entries.map(([column, value]) => `${quote(column)} = ${bind(value)}`);
    let pending: string;
    if (step.marker) {
      assignments.push(`${quote(step.marker)} = ${bind(now)}`);
      pending = `${quote(step.marker)} IS NULL`;
    } else {
      const [column, value] = entries[0];
      pending = value === null ? `${quote(column)} IS NOT NULL` : `${quote(column)} <> ${bind(value)}`;
    }
    const conditions = `${pending} AND ${time} < ${bind(cutoff)}${step.where ? ` AND (${step.where(bind, cutoff)})` : ''}`;
    // On SQLite the outer `pending` repeats after the subquery: bind its value again there.
    const outer = step.marker ? pending : entries[0][1] === null ? pending : `${quote(entries[0][0])} <> ${bind(entries[0][1])}`;
    const sql = wrap(chunk(conditions), (ids) => `UPDATE ${table} SET ${assignments.join(', ')} WHERE "id" IN (${ids}) AND ${outer}`);
    return { sql, params };
  }
}
