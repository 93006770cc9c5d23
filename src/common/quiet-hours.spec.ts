import type { QuietHours } from '../config/app-config.js';
import { quietWindowAt, quietWindowInAny } from './quiet-hours.js';

const PARIS = 'Europe/Paris';
const hours = (text: string): QuietHours => {
  const [start, end] = text.split('-').map((hm) => Number(hm.slice(0, 2)) * 60 + Number(hm.slice(3)));
  return { startMinute: start, endMinute: end, text };
};
const window = (iso: string, quiet: string) => {
  const found = quietWindowAt(new Date(iso), hours(quiet), PARIS);
  return found && { start: found.start.toISOString(), end: found.end.toISOString() };
};

describe('quietWindowAt on the night the clocks go back (Paris, 26 October 2025: 03:00 summer time is 02:00 again)', () => {
  it('QUIET_HOURS=22:00-02:30: ends at the last 02:30 the clock reads (the second), never before the instant', () => {
    const night = { start: '2025-10-25T20:00:00.000Z', end: '2025-10-26T01:30:00.000Z' };
    // 02:15 summer time (UTC+2), the first time.
    expect(window('2025-10-26T00:15:00Z', '22:00-02:30')).toEqual(night);
    // 02:45 summer time: the night goes on (the clock reads 02:00 to 02:30 again next).
    expect(window('2025-10-26T00:45:00Z', '22:00-02:30')).toEqual(night);
    // 02:15 winter time (UTC+1), the second time: ends at the second 02:30 (not the first one, 45 minutes ago).
    expect(window('2025-10-26T01:15:00Z', '22:00-02:30')).toEqual(night);
    expect(window('2025-10-26T01:30:00Z', '22:00-02:30')).toBeNull();
  });

  it('a start between 02:00 and 03:00 is the first time the clock reads it', () => {
    const night = { start: '2025-10-26T00:30:00.000Z', end: '2025-10-26T07:00:00.000Z' };
    expect(window('2025-10-26T00:29:00Z', '02:30-08:00')).toBeNull();
    expect(window('2025-10-26T00:45:00Z', '02:30-08:00')).toEqual(night);
    expect(window('2025-10-26T01:15:00Z', '02:30-08:00')).toEqual(night);
    expect(window('2025-10-26T01:45:00Z', '02:30-08:00')).toEqual(night);
  });
});

describe('quietWindowAt on the night the clocks go forward (Paris, 30 March 2025: 02:00 winter time is 03:00)', () => {
  it('QUIET_HOURS=22:00-02:30: 02:30 is never read, so they end when the clocks jump to 03:00', () => {
    expect(window('2025-03-30T00:15:00Z', '22:00-02:30')).toEqual({ start: '2025-03-29T21:00:00.000Z', end: '2025-03-30T01:00:00.000Z' });
    expect(window('2025-03-30T00:59:00Z', '22:00-02:30')?.end).toBe('2025-03-30T01:00:00.000Z');
    expect(window('2025-03-30T01:00:00Z', '22:00-02:30')).toBeNull();
  });

  it('a start between 02:00 and 03:00 is when the clocks jump past it', () => {
    expect(window('2025-03-30T01:00:00Z', '02:30-08:00')).toEqual({ start: '2025-03-30T01:00:00.000Z', end: '2025-03-30T06:00:00.000Z' });
  });

  it('the usual 21:00-08:00 is read on the local clock both nights', () => {
    expect(window('2025-03-30T00:30:00Z', '21:00-08:00')).toEqual({ start: '2025-03-29T20:00:00.000Z', end: '2025-03-30T06:00:00.000Z' });
    expect(window('2025-10-26T01:30:00Z', '21:00-08:00')).toEqual({ start: '2025-10-25T19:00:00.000Z', end: '2025-10-26T07:00:00.000Z' });
  });
});

describe('quietWindowAt, every quarter of an hour around both nights', () => {
  const configs = ['22:00-02:30', '21:00-08:00', '02:30-08:00', '01:00-02:30', '02:15-02:45', '23:00-03:00', '02:00-03:00'];
  const nights = ['2025-03-29T18:00:00Z', '2025-10-25T18:00:00Z', '2025-06-14T18:00:00Z'];

  it('holds every moment the clock reads inside; contains the instant, with no gap until its end, and begins and ends once', () => {
    for (const quiet of configs) {
      for (const night of nights) {
        for (let t = Date.parse(night); t < Date.parse(night) + 16 * 3_600_000; t += 15 * 60_000) {
          const found = quietWindowAt(new Date(t), hours(quiet), PARIS);
          // Every moment the local clock reads inside the hours is in a period.
          const reading = Number(
            new Intl.DateTimeFormat('en-GB', { timeZone: PARIS, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })
              .format(new Date(t))
              .replace(':', ''),
          );
          const minute = Math.floor(reading / 100) * 60 + (reading % 100);
          const { startMinute, endMinute } = hours(quiet);
          const readsInside =
            startMinute > endMinute ? minute >= startMinute || minute < endMinute : minute >= startMinute && minute < endMinute;
          if (readsInside) expect(found, `${quiet} at ${new Date(t).toISOString()}`).not.toBeNull();
          if (!found) continue;
          const [start, end] = [found.start.getTime(), found.end.getTime()];
          const label = `${quiet} at ${new Date(t).toISOString()}: ${found.start.toISOString()}-${found.end.toISOString()}`;
          expect(start <= t && t < end, label).toBe(true);
          expect(quietWindowAt(new Date(end), hours(quiet), PARIS), label).toBeNull();
          expect(quietWindowAt(new Date(start), hours(quiet), PARIS), label).not.toBeNull();
          expect(quietWindowAt(new Date(start - 1), hours(quiet), PARIS), label).toBeNull();
          // Inside all the way from the instant to the end.
          for (let u = t; u < end; u += 15 * 60_000) expect(quietWindowAt(new Date(u), hours(quiet), PARIS), label).not.toBeNull();
          expect(quietWindowAt(new Date(end - 1), hours(quiet), PARIS), label).not.toBeNull();
        }
      }
    }
    // Tens of thousands of look-ups: seconds alone, far more on a loaded 2-core machine.
  }, 120_000);
});

describe('quietWindowInAny (Paris and Réunion, UTC+1 and UTC+4 in winter)', () => {
  const zones = ['Europe/Paris', 'Indian/Reunion'];
  const quiet = hours('21:00-08:00');
  const any = (iso: string) => {
    const found = quietWindowInAny(new Date(iso), quiet, zones);
    return found && { start: found.start.toISOString(), end: found.end.toISOString() };
  };

  it('is quiet while either zone is, from the earliest start to the latest end of the joined nights', () => {
    // 18:00 in Réunion's night (22:00 there), before Paris's (19:00): the night runs 21:00 Réunion to 08:00 Paris.
    expect(any('2030-11-04T18:00:00Z')).toEqual({ start: '2030-11-04T17:00:00.000Z', end: '2030-11-05T07:00:00.000Z' });
    // 06:00 UTC: Réunion's morning (10:00), still Paris's night (07:00): the same joined night.
    expect(any('2030-11-05T06:00:00Z')).toEqual({ start: '2030-11-04T17:00:00.000Z', end: '2030-11-05T07:00:00.000Z' });
  });

  it('is not quiet when neither zone is', () => {
    expect(any('2030-11-05T12:00:00Z')).toBeNull();
    expect(any('2030-11-05T16:59:00Z')).toBeNull();
  });

  it("keeps the first zone's quiet hours alone when the joined nights leave no hour to send in", () => {
    // 20:00-09:00 in Paris (UTC+1) and in Wallis (UTC+12): quiet around the clock together.
    const long = hours('20:00-09:00');
    const found = quietWindowInAny(new Date('2030-01-10T12:00:00Z'), long, ['Europe/Paris', 'Pacific/Wallis']);
    expect(found).toBeNull(); // 13:00 in Paris: not its quiet hours
    const night = quietWindowInAny(new Date('2030-01-10T22:00:00Z'), long, ['Europe/Paris', 'Pacific/Wallis'])!;
    expect({ start: night.start.toISOString(), end: night.end.toISOString() }).toEqual({
      start: '2030-01-10T19:00:00.000Z',
      end: '2030-01-11T08:00:00.000Z',
    });
  });

  it('is quietWindowAt with one zone', () => {
    expect(quietWindowInAny(new Date('2030-11-04T18:00:00Z'), quiet, ['Europe/Paris'])).toBeNull();
  });
});
