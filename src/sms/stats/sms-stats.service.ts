import { BadRequestException, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { Clock } from '../../common/clock.js';
import { SqlParams } from '../../database/sql.js';
import { explainErrorCode, type Lang } from '../sms-errors.js';
import { DELIVERED_STATUSES, NOT_DELIVERED_STATUSES } from '../webhooks/message-status.js';
import type { SmsStatsQueryDto } from './stats-query.dto.js';

const DAY_MS = 86_400_000;
const DEFAULT_RANGE_DAYS = 30;
const MAX_RANGE_DAYS = 366;
const TOP_ERRORS = 10;
/** Statuses of messages that left for Twilio (their segments are billed). */
const LEFT_STATUSES = new Set([
  'accepted',
  'scheduled',
  'queued',
  'sending',
  'sent',
  'partially_delivered',
  'delivered',
  'undelivered',
  'read',
]);

export interface SmsStats {
  since: Date;
  until: Date;
  filters: { kind: string | null; category: string | null };
  total: number;
  byStatus: Record<string, number>;
  /** UTC days, oldest first, with their counts by status. */
  byDay: { day: string; total: number; byStatus: Record<string, number> }[];
  delivered: number;
  notDelivered: number;
  /** delivered / (delivered + undelivered + failed + canceled); null when none has a final answer. */
  deliveryRate: number | null;
  segmentsSent: number;
  topErrors: { code: string; count: number; explanation: string | null }[];
  optOutsGained: { total: number; bySource: Record<string, number> };
}

/**
 * Statistics computed by the database: a handful of GROUP BY queries over a created_at range, each an
 * index-only scan of IDX_sms_messages_stats (created_at, kind, category, status, segments, error_code).
 */
@Injectable()
export class SmsStatsService {
  private readonly postgres: boolean;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly clock: Clock,
  ) {
    this.postgres = dataSource.driver.options.type === 'postgres';
  }

  async compute(query: SmsStatsQueryDto, lang: Lang): Promise<SmsStats> {
    const until = query.until ?? this.clock.now();
    const since = query.since ?? new Date(until.getTime() - DEFAULT_RANGE_DAYS * DAY_MS);
    if (since >= until) throw this.invalid('since', 'since must be before until');
    if (until.getTime() - since.getTime() > MAX_RANGE_DAYS * DAY_MS)
      throw this.invalid('since', `the range must be at most ${MAX_RANGE_DAYS} days`);

    const where = (p: SqlParams) => {
      let sql = `"created_at" >= ${p.time(since)} AND "created_at" < ${p.time(until)}`;
      if (query.kind) sql += ` AND "kind" = ${p.add(query.kind)}`;
      if (query.category) sql += ` AND "category" = ${p.add(query.category)}`;
      return sql;
    };
    const day = this.postgres ? `to_char("created_at" AT TIME ZONE 'UTC', 'YYYY-MM-DD')` : `substr("created_at", 1, 10)`;

    const p1 = new SqlParams(this.postgres);
    const p2 = new SqlParams(this.postgres);
    const p3 = new SqlParams(this.postgres);
    const p4 = new SqlParams(this.postgres);
    const [statusRows, dayRows, errorRows, optOutRows] = await Promise.all([
      this.dataSource.query<{ status: string; n: string | number; segments: string | number | null }[]>(
        `SELECT "status", COUNT(*) AS n, SUM("segments") AS segments FROM "sms_messages" WHERE ${where(p1)} GROUP BY "status"`,
        p1.values,
      ),
      this.dataSource.query<{ day: string; status: string; n: string | number }[]>(
        `SELECT ${day} AS day, "status", COUNT(*) AS n FROM "sms_messages" WHERE ${where(p2)} GROUP BY ${day}, "status" ORDER BY day`,
        p2.values,
      ),
      this.dataSource.query<{ code: string; n: string | number }[]>(
        `SELECT "error_code" AS code, COUNT(*) AS n FROM "sms_messages" WHERE ${where(p3)} AND "error_code" IS NOT NULL ` +
          `GROUP BY "error_code" ORDER BY n DESC, code LIMIT ${TOP_ERRORS}`,
        p3.values,
      ),
      this.dataSource.query<{ source: string; n: string | number }[]>(
        `SELECT "source", COUNT(*) AS n FROM "sms_opt_outs" WHERE "opted_out_at" >= ${p4.time(since)} AND "opted_out_at" < ${p4.time(until)} GROUP BY "source"`,
        p4.values,
      ),
    ]);

    const byStatus: Record<string, number> = {};
    let total = 0;
    let segmentsSent = 0;
    for (const row of statusRows) {
      const n = Number(row.n);
      byStatus[row.status] = n;
      total += n;
      if (LEFT_STATUSES.has(row.status)) segmentsSent += Number(row.segments ?? 0);
    }
    const days = new Map<string, { day: string; total: number; byStatus: Record<string, number> }>();
    for (const row of dayRows) {
      const entry = days.get(row.day) ?? { day: row.day, total: 0, byStatus: {} };
      entry.byStatus[row.status] = Number(row.n);
      entry.total += Number(row.n);
      days.set(row.day, entry);
    }
    const count = (statuses: readonly string[]) => statuses.reduce((sum, s) => sum + (byStatus[s] ?? 0), 0);
    const delivered = count(DELIVERED_STATUSES);
    const notDelivered = count(NOT_DELIVERED_STATUSES);
    const bySource: Record<string, number> = {};
    for (const row of optOutRows) bySource[row.source] = Number(row.n);

    return {
      since,
      until,
      filters: { kind: query.kind ?? null, category: query.category ?? null },
      total,
      byStatus,
      byDay: [...days.values()],
      delivered,
      notDelivered,
      deliveryRate: delivered + notDelivered ? Math.round((delivered / (delivered + notDelivered)) * 10_000) / 10_000 : null,
      segmentsSent,
      topErrors: errorRows.map((r) => ({ code: r.code, count: Number(r.n), explanation: explainErrorCode(r.code, lang) })),
      optOutsGained: { total: Object.values(bySource).reduce((a, b) => a + b, 0), bySource },
    };
  }

  private invalid(field: string, message: string): BadRequestException {
    return new BadRequestException({ message, details: [{ field, problems: [message] }] });
  }
}
