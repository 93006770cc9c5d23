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

  dueAt(startsAt: Date): Date {
    const due = new Date(startsAt.getTime() - this.config.reminders.leadHours * 3_600_000);
    const window = this.quietWindowAt(due);
    return window ? new Date(window.start.getTime() - BEFORE_QUIET_HOURS_MINUTES * 60_000) : due;
  }

  /** The quiet period containing `instant`, or null outside quiet hours (or when they are off). */
  quietWindowAt(instant: Date): { start: Date; end: Date } | null {
    const quiet = this.config.reminders.quietHours;
    if (!quiet) return null;
    return quietWindowAt(instant, quiet, this.config.defaultTimeZone);
  }
}
