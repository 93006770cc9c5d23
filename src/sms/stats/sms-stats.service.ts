import { BadRequestException, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DateTime } from 'luxon';
import { DataSource } from 'typeorm';
import { Clock } from '../../common/clock.js';
import { AppConfig } from '../../config/app-config.js';
import { SqlParams } from '../../database/sql.js';
import { explainErrorCode, type Lang } from '../failure-explanations.js';
import { SMS_QUEUED, SMS_SENDING } from '../sms-message.entity.js';
import { DELIVERED_STATUSES, NOT_DELIVERED_STATUSES } from '../webhooks/message-status.js';
import type { SmsStatsQueryDto } from './stats-query.dto.js';

const DAY_MS = 86_400_000;
const DEFAULT_RANGE_DAYS = 30;
const MAX_RANGE_DAYS = 366;
const TOP_ERRORS = 10;
/** Statuses of messages that left for Twilio (their segments are billed), once they have a provider SID. */
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
  /** The zone whose days `byDay` counts (DEFAULT_TIMEZONE). */
  timeZone: string;
  total: number;
  byStatus: Record<string, number>;
  /** Days in `timeZone`, oldest first, with their counts by status. */
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
 * Statistics computed by the database: one GROUP BY (day, status, error code) over a created_at range,
 * which reads only IDX_sms_messages_stats (created_at, kind, category, status, segments, error_code),
 * and every figure derived from its few groups; the segments of the messages still waiting in the outbox
 * (taken off segmentsSent); one GROUP BY over the opt-outs of the period.
 */
@Injectable()
export class SmsStatsService {
  private readonly postgres: boolean;
  /** Days are counted in DEFAULT_TIMEZONE, where a date alone in a filter starts too. */
  private readonly timeZone: string;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly clock: Clock,
    config: AppConfig,
  ) {
    this.postgres = dataSource.driver.options.type === 'postgres';
    this.timeZone = config.defaultTimeZone;
  }

  async compute(query: SmsStatsQueryDto, lang: Lang): Promise<SmsStats> {
    const until = query.until ?? this.clock.now();
    // 30 days of the calendar in the statistics' zone (a change of the clocks in between makes one 23 or 25 hours long).
    const since = query.since ?? DateTime.fromJSDate(until, { zone: this.timeZone }).minus({ days: DEFAULT_RANGE_DAYS }).toJSDate();
    if (since >= until) throw this.invalid('since', 'since must be before until');
    if (until.getTime() - since.getTime() > MAX_RANGE_DAYS * DAY_MS)
      throw this.invalid('since', `the range must be at most ${MAX_RANGE_DAYS} days`);

    // One scan of the index for the messages (every figure is derived from these few groups), one for opt-outs.
    const grouped = this.groupedQuery(since, until, query);
    const waiting = this.waitingQuery(since, until, query);
    const p2 = new SqlParams(this.postgres);
    const [groups, waitingRows, optOutRows] = await Promise.all([
      this.dataSource.query<{ day: string; status: string; code: string | null; n: string | number; segments: string | number | null }[]>(
        grouped.sql,
        grouped.values,
      ),
      this.dataSource.query<{ segments: string | number | null }[]>(waiting.sql, waiting.values),
      this.dataSource.query<{ source: string; n: string | number }[]>(
        `SELECT "source", COUNT(*) AS n FROM "sms_opt_outs" WHERE "opted_out_at" >= ${p2.time(since)} AND "opted_out_at" < ${p2.time(until)} GROUP BY "source"`,
        p2.values,
      ),
    ]);

    const byStatus: Record<string, number> = {};
    const days = new Map<string, { day: string; total: number; byStatus: Record<string, number> }>();
    const errors = new Map<string, number>();
    let total = 0;
    // Twilio's `queued` and `sending` are also the outbox's own states: those still without a SID never left.
    let segmentsSent = -Number(waitingRows[0]?.segments ?? 0);
    for (const group of groups) {
      const n = Number(group.n);
      total += n;
      byStatus[group.status] = (byStatus[group.status] ?? 0) + n;
      if (LEFT_STATUSES.has(group.status)) segmentsSent += Number(group.segments ?? 0);
      if (group.code) errors.set(group.code, (errors.get(group.code) ?? 0) + n);
      const entry = days.get(group.day) ?? { day: group.day, total: 0, byStatus: {} };
      entry.byStatus[group.status] = (entry.byStatus[group.status] ?? 0) + n;
      entry.total += n;
      days.set(group.day, entry);
    }
    const topErrors = [...errors]
      .sort(([a, x], [b, y]) => y - x || a.localeCompare(b))
      .slice(0, TOP_ERRORS)
      .map(([code, count]) => ({ code, count, explanation: explainErrorCode(code, lang) }));
    const count = (statuses: readonly string[]) => statuses.reduce((sum, s) => sum + (byStatus[s] ?? 0), 0);
    const delivered = count(DELIVERED_STATUSES);
    const notDelivered = count(NOT_DELIVERED_STATUSES);
    const bySource: Record<string, number> = {};
    for (const row of optOutRows) bySource[row.source] = Number(row.n);

    return {
      since,
      until,
      filters: { kind: query.kind ?? null, category: query.category ?? null },
      timeZone: this.timeZone,
      total,
      byStatus,
      byDay: [...days.values()],
      delivered,
      notDelivered,
      deliveryRate: delivered + notDelivered ? Math.round((delivered / (delivered + notDelivered)) * 10_000) / 10_000 : null,
      segmentsSent,
      topErrors,
      optOutsGained: { total: Object.values(bySource).reduce((a, b) => a + b, 0), bySource },
    };
  }

  /**
   * Messages of the period grouped by day (in DEFAULT_TIMEZONE), status and error code. PostgreSQL groups on
   * date_trunc of the local time (cheaper per row than formatting) and formats the few groups. SQLite has no time
   * zones. Where every offset of the zone over the period is a whole number of hours (Europe/Paris, all year), the
   * period is cut at its clock changes into stretches of one offset, and in a stretch of o hours a row's local day is
   * its UTC day (the first 10 characters of its UTC text) but for the o hours at one end of the UTC day, which belong
   * to the next (or the previous) local day: only those rows pay for SQLite's date(). In a zone of half-hour offsets
   * it joins the period's local days instead, worked out here as UTC ranges (one index range per day, slower).
   * SQLite is told the index to read: its planner would rather skip-scan the (status, created_at) index and then
   * read the table for the other columns.
   */
  groupedQuery(since: Date, until: Date, filters: Pick<SmsStatsQueryDto, 'kind' | 'category'>): { sql: string; values: unknown[] } {
    const p = new SqlParams(this.postgres);
    const columns = `"status" AS status, "error_code" AS code, COUNT(*) AS n, SUM("segments") AS segments`;
    // Placeholders are taken in the order they appear in the text (SQLite's are positional).
    const where = () => {
      let text = `"created_at" >= ${p.time(since)} AND "created_at" < ${p.time(until)}`;
      if (filters.kind) text += ` AND "kind" = ${p.add(filters.kind)}`;
      if (filters.category) text += ` AND "category" = ${p.add(filters.category)}`;
      return text;
    };
    if (this.postgres) {
      const zone = p.add(this.timeZone);
      const sql =
        `SELECT to_char(g.d, 'YYYY-MM-DD') AS day, g.status, g.code, g.n, g.segments FROM (` +
        `SELECT date_trunc('day', "created_at" AT TIME ZONE ${zone}::text) AS d, ${columns} ` +
        `FROM "sms_messages" WHERE ${where()} GROUP BY 1, 2, 3) AS g ORDER BY g.d`;
      return { sql, values: p.values };
    }
    const stretches = offsetStretches(since, until, this.timeZone);
    if (stretches.every((stretch) => stretch.offsetMinutes % 60 === 0)) {
      const last = stretches[stretches.length - 1]!;
      const day =
        stretches.length === 1
          ? localDayOfUtcText(last.offsetMinutes / 60)
          : `CASE ${stretches
              .slice(0, -1)
              .map((stretch) => `WHEN "created_at" < ${p.time(stretch.end!)} THEN ${localDayOfUtcText(stretch.offsetMinutes / 60)}`)
              .join(' ')} ELSE ${localDayOfUtcText(last.offsetMinutes / 60)} END`;
      const sql =
        `SELECT ${day} AS day, ${columns} ` +
        `FROM "sms_messages" INDEXED BY "IDX_sms_messages_stats" WHERE ${where()} GROUP BY 1, 2, 3 ORDER BY 1`;
      return { sql, values: p.values };
    }
    const days = localDays(since, until, this.timeZone)
      .map((d) => `(${p.add(d.day)}, ${p.time(d.start)}, ${p.time(d.end)})`)
      .join(', ');
    const sql =
      `WITH "days"("day", "start", "end") AS (VALUES ${days}) ` +
      `SELECT d."day" AS day, m."status" AS status, m."error_code" AS code, COUNT(*) AS n, SUM(m."segments") AS segments ` +
      `FROM "days" AS d JOIN "sms_messages" AS m INDEXED BY "IDX_sms_messages_stats" ON m."created_at" >= d."start" AND m."created_at" < d."end" ` +
      `WHERE ${where()} GROUP BY 1, 2, 3 ORDER BY 1`;
    return { sql, values: p.values };
  }

  /**
   * Segments of the period's messages still in the outbox (`queued` or `sending`, no provider SID: sent later,
   * waiting for a retry or in flight). Read from IDX_sms_messages_outbox, which holds only rows without a SID:
   * few, unlike the period's messages.
   */
  waitingQuery(since: Date, until: Date, filters: Pick<SmsStatsQueryDto, 'kind' | 'category'>): { sql: string; values: unknown[] } {
    const p = new SqlParams(this.postgres);
    let where = `"provider_sid" IS NULL AND "status" IN ('${SMS_QUEUED}', '${SMS_SENDING}') AND "created_at" >= ${p.time(since)} AND "created_at" < ${p.time(until)}`;
    if (filters.kind) where += ` AND "kind" = ${p.add(filters.kind)}`;
    if (filters.category) where += ` AND "category" = ${p.add(filters.category)}`;
    // SQLite is told the index (it fails the query if it cannot use it): its planner could pick the created_at range instead.
    const from = this.postgres ? `"sms_messages"` : `"sms_messages" INDEXED BY "IDX_sms_messages_outbox"`;
    return { sql: `SELECT SUM("segments") AS segments FROM ${from} WHERE ${where}`, values: p.values };
  }

  private invalid(field: string, message: string): BadRequestException {
    return new BadRequestException({ message, details: [{ field, problems: [message] }] });
  }
}

/** The local days (in `timeZone`) that [since, until) touches, each as the UTC instants it starts and ends at. */
export function localDays(since: Date, until: Date, timeZone: string): { day: string; start: Date; end: Date }[] {
  const days: { day: string; start: Date; end: Date }[] = [];
  for (let day = DateTime.fromJSDate(since, { zone: timeZone }).startOf('day'); day.toMillis() < until.getTime();) {
    const next = day.plus({ days: 1 }).startOf('day');
    days.push({ day: day.toISODate()!, start: day.toJSDate(), end: next.toJSDate() });
    day = next;
  }
  return days;
}

/**
 * SQLite: the local day of `created_at` (UTC text `YYYY-MM-DD HH:MM:SS.SSS`) at a whole-hour offset: its UTC day, or
 * the next one for its last `offsetHours` hours (east of UTC), the previous one for its first `-offsetHours` (west).
 */
function localDayOfUtcText(offsetHours: number): string {
  if (offsetHours === 0) return `substr("created_at", 1, 10)`;
  const hour = String(offsetHours > 0 ? 24 - offsetHours : -offsetHours).padStart(2, '0');
  return offsetHours > 0
    ? `CASE WHEN substr("created_at", 12, 2) >= '${hour}' THEN date("created_at", '+1 day') ELSE substr("created_at", 1, 10) END`
    : `CASE WHEN substr("created_at", 12, 2) < '${hour}' THEN date("created_at", '-1 day') ELSE substr("created_at", 1, 10) END`;
}

/**
 * [since, until) cut at `timeZone`'s clock changes: stretches of one offset (minutes east of UTC), the last one
 * open-ended. The offset is read once a day (no zone changes twice within a day) and each change found by bisection
 * to the millisecond: a few hundred look-ups for a year, not one per minute.
 */
export function offsetStretches(since: Date, until: Date, timeZone: string): { end: Date | null; offsetMinutes: number }[] {
  const offsetAt = (ms: number) => DateTime.fromMillis(ms, { zone: timeZone }).offset;
  const stretches: { end: Date | null; offsetMinutes: number }[] = [];
  let from = since.getTime();
  let current = offsetAt(from);
  while (from < until.getTime()) {
    const to = Math.min(from + DAY_MS, until.getTime());
    const next = offsetAt(to);
    if (next !== current) {
      // The first instant at `next` lies in (from, to].
      let low = from;
      let high = to;
      while (high - low > 1) {
        const middle = Math.floor((low + high) / 2);
        if (offsetAt(middle) === current) low = middle;
        else high = middle;
      }
      stretches.push({ end: new Date(high), offsetMinutes: current });
      current = offsetAt(high);
      from = high;
      continue;
    }
    from = to;
  }
  stretches.push({ end: null, offsetMinutes: current });
  return stretches;
}
