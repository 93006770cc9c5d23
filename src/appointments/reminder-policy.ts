import { Injectable, Optional } from '@nestjs/common';
import { DateTime } from 'luxon';
import { quietWindowInAny } from '../common/quiet-hours.js';
import { AppConfig } from '../config/app-config.js';
import { PhoneNumberService } from '../phone/phone-number.service.js';
import { quietHoursZones } from '../phone/region-time-zones.js';

/** How long before quiet hours begin a moved reminder goes out. */
export const BEFORE_QUIET_HOURS_MINUTES = 5;

const DAY_MINUTES = 24 * 60;
const DAY_MS = DAY_MINUTES * 60_000;
/**
 * A late confirmation's reminder is chosen among the quiet periods of the last days before the appointment (and the one
 * under way): with a lead of weeks, a few days before it, not halfway (confirmed 29 days ahead with a 30-day lead, not
 * 15 days later), and a bounded amount of work in the request.
 */
const LATE_REMINDER_DAYS = 3;

/**
 * When a reminder is due: REMINDER_LEAD_HOURS before the appointment, moved out of quiet hours when it would fall
 * inside them, to the nearer of their two sides (outsideQuietHours: the end of the night, or just before it begins)
 * (quiet hours are read in DEFAULT_TIMEZONE, with its DST, and in the client's own zone when its number's territory
 * has one of its own: quietHoursZones).
 * Whole days of the lead are days of DEFAULT_TIMEZONE's calendar: 24 hours before 08:30 is 08:30 the day
 * before, also across a change of clocks (23 or 25 hours then); the hours left over are hours.
 */
@Injectable()
export class ReminderPolicy {
  constructor(
    private readonly config: AppConfig,
    @Optional() private readonly phones?: PhoneNumberService,
  ) {}

  /** The zones whose quiet hours a reminder to `phone` keeps (quietHoursZones: DEFAULT_TIMEZONE's and the client's). */
  private zonesFor(phone?: string | null): readonly string[] {
    const home = this.config.defaultTimeZone;
    return phone && this.phones ? quietHoursZones(this.phones.format(phone).country, home) : [home];
  }

  /**
   * `now`: when the appointment is confirmed or moved. Confirmed at least the lead ahead: the usual time, even if
   * moving it out of quiet hours put it in the past (then the next scan, or the end of the night under way).
   * Confirmed later (the lead time past): lateConfirmation.
   */
  dueAt(startsAt: Date, now: Date, phone?: string | null): Date {
    const zones = this.zonesFor(phone);
    const leadBefore = this.leadBefore(startsAt);
    const due = this.outsideQuietHours(leadBefore, startsAt, zones);
    if (leadBefore >= now) return this.notInTonight(due, now, startsAt, zones);
    return this.lateConfirmation(now, startsAt, zones) ?? this.notInTonight(due, now, startsAt, zones);
  }

  /**
   * Confirmed less than the lead before the start, the reminder can go at once (at the next scan: right after the
   * confirmation's own SMS), or on either side of any quiet period between the confirmation and the appointment: when
   * it ends (the night under way when confirmed in quiet hours, and each later one) or just before it begins (the
   * evening before, or the evening of an appointment inside quiet hours). Of those still ahead of `now` and of the
   * appointment, the one furthest from both (the larger of the two gaps' smaller one; on a tie, the earlier), so
   * never minutes before the appointment when an evening leaves hours: confirmed at 11:00 for 07:00 the next morning,
   * 20:55 (not at once, 20 hours ahead); for 08:01 the next morning, 20:55 too (not 08:00, a minute ahead); at 07:30
   * for 07:00 the next morning, 20:55 (not 08:00, half an hour after the confirmation); at 22:00 for 21:30 the next
   * evening, 08:00 (13.5 hours ahead, not 20:55, 35 minutes ahead); at 15:00 for 14:00 the next day, 08:00 that day
   * (6 hours ahead; 20:55 would follow the confirmation by 6 hours less 5 minutes); at 12:00 for 21:30 the same
   * evening, 20:55 (the only time apart from the confirmation). Null when none applies (the same day, outside quiet
   * hours): the next scan, or notInTonight.
   */
  private lateConfirmation(now: Date, startsAt: Date, zones: readonly string[]): Date | null {
    const candidates = new Map<number, Date>();
    for (const night of this.quietPeriodsAround(now, startsAt, zones)) {
      const before = new Date(night.start.getTime() - BEFORE_QUIET_HOURS_MINUTES * 60_000);
      for (const t of [before, night.end]) if (t > now && t < startsAt) candidates.set(t.getTime(), t);
    }
    const apart = (t: Date) => Math.min(t.getTime() - now.getTime(), startsAt.getTime() - t.getTime());
    const best = [...candidates.values()].sort((a, b) => apart(b) - apart(a) || a.getTime() - b.getTime())[0];
    return best ?? null;
  }

  /**
   * The quiet periods (in any of `zones`) around `from` to `to`: those holding `from` or `to`, and the one found from
   * the middle of QUIET_HOURS on each day of each zone's calendar from the day before `from`'s (or, when `to` is further
   * away, LATE_REMINDER_DAYS before `to`) to the day after `to`'s (a middle the clocks skip moves forward by the gap,
   * still inside the night). None when quiet hours are off.
   */
  private quietPeriodsAround(from: Date, to: Date, zones: readonly string[]): { start: Date; end: Date }[] {
    const quiet = this.config.reminders.quietHours;
    if (!quiet) return [];
    const length = (quiet.endMinute - quiet.startMinute + DAY_MINUTES) % DAY_MINUTES;
    const middle = (quiet.startMinute + Math.floor(length / 2)) % DAY_MINUTES;
    const probes = [from, to];
    const firstDay = new Date(Math.max(from.getTime(), to.getTime() - LATE_REMINDER_DAYS * DAY_MS));
    // Each zone's own nights: a client's night that does not join DEFAULT_TIMEZONE's is a period of its own.
    for (const zone of zones) {
      const lastDay = DateTime.fromJSDate(to, { zone }).startOf('day').plus({ days: 1 });
      for (
        let day = DateTime.fromJSDate(firstDay, { zone }).startOf('day').minus({ days: 1 });
        day <= lastDay;
        day = day.plus({ days: 1 })
      ) {
        probes.push(day.set({ hour: Math.floor(middle / 60), minute: middle % 60 }).toJSDate());
      }
    }
    const periods: { start: Date; end: Date }[] = [];
    const known = (instant: Date) => periods.some((p) => p.start <= instant && instant < p.end);
    for (const probe of probes) {
      if (known(probe)) continue;
      const window = this.quietWindowAt(probe, zones);
      if (window && !periods.some((p) => p.start.getTime() === window.start.getTime())) periods.push(window);
    }
    return periods;
  }

  /**
   * A due time already past ("at the next scan") while `now` is in quiet hours (the client's own night, which the scan
   * does not skip): when they end, if the appointment is still ahead then. Sent at once, the dispatcher dropped it as
   * QUIET_HOURS (a failed SMS on the appointment) and re-armed it for the same time.
   */
  private notInTonight(due: Date, now: Date, startsAt: Date, zones: readonly string[]): Date {
    if (due >= now) return due;
    const night = this.quietWindowAt(now, zones);
    return night && night.end < startsAt ? night.end : due;
  }

  /**
   * REMINDER_LEAD_HOURS before `startsAt`: its whole days in DEFAULT_TIMEZONE's calendar (the same local time, days
   * before: a lead of 24 hours across the spring change of clocks is 23 real hours, 25 in autumn), then the rest in
   * hours. A time of day the clocks skip that day moves forward by the gap (luxon).
   */
  private leadBefore(startsAt: Date): Date {
    const { leadHours } = this.config.reminders;
    return DateTime.fromJSDate(startsAt, { zone: this.config.defaultTimeZone })
      .minus({ days: Math.floor(leadHours / 24) })
      .minus({ hours: leadHours % 24 })
      .toJSDate();
  }

  /** When a reminder to `phone` dropped at `now` is due again: when quiet hours end (its zones'), or at once outside them. */
  dueAgainAt(now: Date, phone?: string | null): Date {
    return this.quietWindowAt(now, this.zonesFor(phone))?.end ?? now;
  }

  /**
   * `leadBefore` (the lead time before `startsAt`), or when it falls in quiet hours the nearer of their two sides:
   * when they end, if that still leaves at least half the lead before the appointment, or just before they begin
   * (also on a tie: early rather than late). With a 24-hour lead and 21:00-08:00, a 07:00 appointment is reminded at
   * 08:00 the day before (23 hours ahead), not at 20:55 two evenings before (34 hours); a 21:30 one at 20:55 the
   * evening before. With a 2-hour lead, an 08:30 appointment is reminded at 20:55 the evening before: 08:00 would
   * leave half an hour.
   */
  private outsideQuietHours(leadBefore: Date, startsAt: Date, zones: readonly string[]): Date {
    const window = this.quietWindowAt(leadBefore, zones);
    if (!window) return leadBefore;
    const before = new Date(window.start.getTime() - BEFORE_QUIET_HOURS_MINUTES * 60_000);
    const lead = startsAt.getTime() - leadBefore.getTime();
    const afterKeepsHalf = startsAt.getTime() - window.end.getTime() >= lead / 2;
    const afterIsNearer = window.end.getTime() - leadBefore.getTime() < leadBefore.getTime() - before.getTime();
    return afterKeepsHalf && afterIsNearer ? window.end : before;
  }

  /**
   * The quiet period containing `instant` in any of `zones` (DEFAULT_TIMEZONE's alone by default: the scan's), or null
   * outside quiet hours (or when they are off).
   */
  quietWindowAt(instant: Date, zones: readonly string[] = [this.config.defaultTimeZone]): { start: Date; end: Date } | null {
    const quiet = this.config.reminders.quietHours;
    if (!quiet) return null;
    return quietWindowInAny(instant, quiet, zones);
  }
}
