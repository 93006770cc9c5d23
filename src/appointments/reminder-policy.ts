import { Injectable, Optional } from '@nestjs/common';
import { DateTime } from 'luxon';
import { quietWindowInAny } from '../common/quiet-hours.js';
import { AppConfig } from '../config/app-config.js';
import { PhoneNumberService } from '../phone/phone-number.service.js';
import { quietHoursZones } from '../phone/region-time-zones.js';

/** How long before quiet hours begin a moved reminder goes out. */
export const BEFORE_QUIET_HOURS_MINUTES = 5;

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
   * `now`: when the appointment is confirmed or moved. A due time already past (confirmed less than the lead
   * before the start) is not "at once" when the appointment falls in quiet hours and the evening before is still
   * ahead: confirmed at 11:00 for 07:00 the next day, the reminder goes just before that evening's quiet hours,
   * not 20 hours ahead right after the confirmation. Otherwise a past due time means at the next scan.
   */
  dueAt(startsAt: Date, now: Date, phone?: string | null): Date {
    const zones = this.zonesFor(phone);
    const leadBefore = this.leadBefore(startsAt);
    const due = this.outsideQuietHours(leadBefore, startsAt, zones);
    // Confirmed at least the lead ahead: the usual time, even if moving it out of quiet hours put it in the past.
    // Confirmed later (the lead time past), a time moved to the end of that night is not kept: it could follow the
    // confirmation's own SMS by minutes.
    if (leadBefore >= now) return this.notInTonight(due, now, startsAt, zones);
    const latest = this.quietWindowAt(startsAt, zones) ? this.beforeQuietHours(startsAt, zones) : null;
    return latest && latest > now ? latest : this.notInTonight(due, now, startsAt, zones);
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

  /** `instant`, or just before the quiet period containing it. */
  private beforeQuietHours(instant: Date, zones: readonly string[]): Date {
    const window = this.quietWindowAt(instant, zones);
    return window ? new Date(window.start.getTime() - BEFORE_QUIET_HOURS_MINUTES * 60_000) : instant;
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
