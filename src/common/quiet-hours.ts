import { DateTime } from 'luxon';
import type { QuietHours } from '../config/app-config.js';

/**
 * The quiet period (QUIET_HOURS, local clock times in `timeZone`, with its DST) that contains `instant`, or null
 * outside it. Read by the reminder scan (no scan during it, reminders moved before it) and by SendHours (a
 * reminder that would leave during it, a retry say, is dropped, and the appointments side makes a new one due at
 * its end: ReminderDeliveryListener).
 */
export function quietWindowAt(instant: Date, quiet: QuietHours, timeZone: string): { start: Date; end: Date } | null {
  const local = DateTime.fromJSDate(instant, { zone: timeZone });
  const minute = local.hour * 60 + local.minute;
  const overnight = quiet.startMinute > quiet.endMinute;
  const inside = overnight
    ? minute >= quiet.startMinute || minute < quiet.endMinute
    : minute >= quiet.startMinute && minute < quiet.endMinute;
  if (!inside) return null;
  // An overnight window seen after midnight began the day before.
  const startDay = overnight && minute < quiet.endMinute ? local.startOf('day').minus({ days: 1 }) : local.startOf('day');
  const endDay = overnight ? startDay.plus({ days: 1 }) : startDay;
  const at = (day: DateTime, minutes: number) => day.set({ hour: Math.floor(minutes / 60), minute: minutes % 60 }).toJSDate();
  return { start: at(startDay, quiet.startMinute), end: at(endDay, quiet.endMinute) };
}
