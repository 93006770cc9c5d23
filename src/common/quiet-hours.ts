import { DateTime } from 'luxon';
import type { QuietHours } from '../config/app-config.js';

const MINUTE = 60_000;
const DAY = 86_400_000;

/**
 * The quiet period (QUIET_HOURS, local clock times in `timeZone`, with its DST) that contains `instant`, or null
 * outside it. Read by the reminder scan (no scan during it, reminders moved before it) and by SendHours (a
 * reminder that would leave during it, a retry say, is dropped, and the appointments side makes a new one due at
 * its end: ReminderDeliveryListener).
 *
 * A period runs from the first moment the local clock reads its start to the last moment it reads its end. Most
 * nights that is plain clock reading. On the nights the clocks change, a start or end between 02:00 and 03:00 (in
 * Paris) is read twice or never: with 22:00-02:30, the night the clocks go back (03:00 summer time is 02:00 again)
 * ends at the second 02:30, an hour later in absolute time, and the night they go forward (02:00 is 03:00) at 03:00
 * summer time, when the clocks jump past 02:30. So a period is never cut in two, never ends before `instant`, and
 * holds every moment the clock reads inside it.
 */
export function quietWindowAt(instant: Date, quiet: QuietHours, timeZone: string): { start: Date; end: Date } | null {
  const t = instant.getTime();
  const local = DateTime.fromJSDate(instant, { zone: timeZone });
  const overnight = quiet.startMinute > quiet.endMinute;
  // No change of clocks within a day either side (most of the year): the clock's reading says, and outside is cheap.
  if (local.zone.offset(t - DAY) === local.zone.offset(t + DAY)) {
    const minute = local.hour * 60 + local.minute;
    const inside = overnight
      ? minute >= quiet.startMinute || minute < quiet.endMinute
      : minute >= quiet.startMinute && minute < quiet.endMinute;
    if (!inside) return null;
  }
  const today = local.startOf('day');
  // The period that began yesterday (overnight, it ends today), then today's.
  for (const startDay of [today.minus({ days: 1 }), today]) {
    const start = momentsReading(startDay, quiet.startMinute)[0];
    if (start > t) continue;
    const ends = momentsReading(overnight ? startDay.plus({ days: 1 }) : startDay, quiet.endMinute);
    const end = ends[ends.length - 1];
    if (t < end) return { start: new Date(start), end: new Date(end) };
  }
  return null;
}

/**
 * The moments (epoch ms) at which the clock of `day`'s zone reads `minutes` after midnight on that day: one on most
 * days; two when the clocks go back over that time (the earlier first); when they skip it, the one moment they
 * jump past it (the first reading after it).
 */
function momentsReading(day: DateTime, minutes: number): number[] {
  const zone = day.zone;
  // The clock reading written as if it were UTC; the moment it is read is this less the zone's offset then.
  const reading = Date.UTC(day.year, day.month - 1, day.day, Math.floor(minutes / 60), minutes % 60);
  // The offsets in force around that day (a zone changes its clocks at most once within a day or so).
  const offsets = [...new Set([reading - DAY, reading, reading + DAY].map((ts) => zone.offset(ts)))];
  const moments = offsets
    .map((offset) => reading - offset * MINUTE)
    .filter((ts) => reading - ts === zone.offset(ts) * MINUTE)
    .sort((a, b) => a - b);
  if (moments.length) return moments;
  // Skipped: between reading it with the offset before the jump (still before it) and with the one after (already
  // past it), find the moment the offset changes.
  let before = reading - Math.max(...offsets) * MINUTE;
  let after = reading - Math.min(...offsets) * MINUTE;
  const offsetAfter = zone.offset(after);
  while (after - before > 1) {
    const middle = Math.floor((before + after) / 2);
    if (zone.offset(middle) === offsetAfter) after = middle;
    else before = middle;
  }
  return [after];
}

/**
 * The quiet period containing `instant` when quiet hours are kept in several zones at once (DEFAULT_TIMEZONE's and a
 * client's own): quiet while it is quiet in any of them, from the earliest start to the latest end of the periods
 * that touch one another, or null when no zone is quiet then. With one zone, quietWindowAt. The first zone is the home one.
 */
export function quietWindowInAny(instant: Date, quiet: QuietHours, timeZones: readonly string[]): { start: Date; end: Date } | null {
  if (timeZones.length === 1) return quietWindowAt(instant, quiet, timeZones[0]!);
  const containing = timeZones.map((zone) => quietWindowAt(instant, quiet, zone)).filter((w) => w !== null);
  if (!containing.length) return null;
  let start = Math.min(...containing.map((w) => w.start.getTime()));
  let end = Math.max(...containing.map((w) => w.end.getTime()));
  // Another zone's period that begins before this one ends (or ends after it begins) joins it: a few rounds at most.
  for (let round = 0; round < 8; round++) {
    let grown = false;
    for (const zone of timeZones) {
      const after = quietWindowAt(new Date(end), quiet, zone);
      if (after && after.end.getTime() > end) [end, grown] = [after.end.getTime(), true];
      const before = quietWindowAt(new Date(start - 1), quiet, zone);
      if (before && before.start.getTime() < start) [start, grown] = [before.start.getTime(), true];
    }
    if (!grown) break;
  }
  // Nights that join up around the clock (QUIET_HOURS=20:00-09:00 in Paris and in Wallis, 11 hours ahead) leave no hour
  // to send in: the first zone's (DEFAULT_TIMEZONE's) quiet hours alone then, not a window of days.
  if (end - start >= DAY) return quietWindowAt(instant, quiet, timeZones[0]!);
  return { start: new Date(start), end: new Date(end) };
}
