import { Injectable } from '@nestjs/common';
import { quietWindowAt } from '../common/quiet-hours.js';
import { AppConfig } from '../config/app-config.js';

/** How long before quiet hours begin a moved reminder goes out. */
export const BEFORE_QUIET_HOURS_MINUTES = 5;

/**
 * When a reminder is due: REMINDER_LEAD_HOURS before the appointment, moved to just before quiet
 * hours when it would fall inside them (quiet hours are read in DEFAULT_TIMEZONE, with its DST).
 */
@Injectable()
export class ReminderPolicy {
  constructor(private readonly config: AppConfig) {}

  /**
   * `now`: when the appointment is confirmed or moved. A due time already past (confirmed less than the lead
   * before the start) is not "at once" when the appointment falls in quiet hours and the evening before is still
   * ahead: confirmed at 11:00 for 07:00 the next day, the reminder goes just before that evening's quiet hours,
   * not 20 hours ahead right after the confirmation. Otherwise a past due time means at the next scan.
   */
  dueAt(startsAt: Date, now: Date): Date {
    const lead = this.config.reminders.leadHours * 3_600_000;
    const due = this.beforeQuietHours(new Date(startsAt.getTime() - lead));
    // Confirmed at least the lead ahead: the usual time, even if moving it before quiet hours put it in the past.
    if (due >= now || startsAt.getTime() - now.getTime() >= lead) return due;
    const latest = this.quietWindowAt(startsAt) ? this.beforeQuietHours(startsAt) : null;
    return latest && latest > now ? latest : due;
  }

  /** When a reminder dropped at `now` is due again: when quiet hours end, or at once outside them. */
  dueAgainAt(now: Date): Date {
    return this.quietWindowAt(now)?.end ?? now;
  }

  /** `instant`, or just before the quiet period containing it. */
  private beforeQuietHours(instant: Date): Date {
    const window = this.quietWindowAt(instant);
    return window ? new Date(window.start.getTime() - BEFORE_QUIET_HOURS_MINUTES * 60_000) : instant;
  }

  /** The quiet period containing `instant`, or null outside quiet hours (or when they are off). */
  quietWindowAt(instant: Date): { start: Date; end: Date } | null {
    const quiet = this.config.reminders.quietHours;
    if (!quiet) return null;
    return quietWindowAt(instant, quiet, this.config.defaultTimeZone);
  }
}
