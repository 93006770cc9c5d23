import { localDays, offsetStretches } from './sms-stats.service.js';

describe('localDays', () => {
  const iso = (days: ReturnType<typeof localDays>) => days.map((d) => [d.day, d.start.toISOString(), d.end.toISOString()]);

  it('cuts a period into the days of the zone, the first and last partly covered', () => {
    expect(iso(localDays(new Date('2026-01-10T12:00:00Z'), new Date('2026-01-11T23:30:00Z'), 'Europe/Paris'))).toEqual([
      ['2026-01-10', '2026-01-09T23:00:00.000Z', '2026-01-10T23:00:00.000Z'],
      ['2026-01-11', '2026-01-10T23:00:00.000Z', '2026-01-11T23:00:00.000Z'],
      ['2026-01-12', '2026-01-11T23:00:00.000Z', '2026-01-12T23:00:00.000Z'],
    ]);
  });

  it('has a 23-hour and a 25-hour day at the clock changes, and days of their own length elsewhere', () => {
    const spring = localDays(new Date('2026-03-29T00:00:00+01:00'), new Date('2026-03-30T00:00:00+02:00'), 'Europe/Paris');
    expect(spring.map((d) => (d.end.getTime() - d.start.getTime()) / 3_600_000)).toEqual([23]);
    const autumn = localDays(new Date('2026-10-25T00:00:00+02:00'), new Date('2026-10-26T00:00:00+01:00'), 'Europe/Paris');
    expect(autumn.map((d) => (d.end.getTime() - d.start.getTime()) / 3_600_000)).toEqual([25]);
    expect(iso(localDays(new Date('2026-01-10T12:00:00Z'), new Date('2026-01-10T13:00:00Z'), 'Asia/Kolkata'))).toEqual([
      ['2026-01-10', '2026-01-09T18:30:00.000Z', '2026-01-10T18:30:00.000Z'],
    ]);
  });
});

describe('offsetStretches', () => {
  const iso = (stretches: ReturnType<typeof offsetStretches>) => stretches.map((s) => [s.end?.toISOString() ?? null, s.offsetMinutes / 60]);

  it('cuts a year in Paris at both clock changes, to the minute', () => {
    expect(iso(offsetStretches(new Date('2026-01-01T00:00:00Z'), new Date('2027-01-01T00:00:00Z'), 'Europe/Paris'))).toEqual([
      ['2026-03-29T01:00:00.000Z', 1],
      ['2026-10-25T01:00:00.000Z', 2],
      [null, 1],
    ]);
    expect(iso(offsetStretches(new Date('2026-06-01T00:00:00Z'), new Date('2026-06-30T00:00:00Z'), 'Europe/Paris'))).toEqual([[null, 2]]);
    expect(iso(offsetStretches(new Date('2026-01-01T00:00:00Z'), new Date('2026-02-01T00:00:00Z'), 'America/Martinique'))).toEqual([
      [null, -4],
    ]);
  });

  it('finds a change at local midnight to the millisecond, from a period starting at any instant (Santiago, April 2026)', () => {
    // Santiago goes back from -03:00 to -04:00 at 00:00 on 5 April 2026 (03:00 UTC).
    const stretches = offsetStretches(new Date('2026-04-04T12:00:30.500Z'), new Date('2026-04-30T00:00:00Z'), 'America/Santiago');
    expect(iso(stretches)).toEqual([
      ['2026-04-05T03:00:00.000Z', -3],
      [null, -4],
    ]);
  });

  it('says which periods have a half-hour offset (India all year, Lord Howe in its winter only)', () => {
    const offsets = (from: string, to: string, zone: string) =>
      offsetStretches(new Date(from), new Date(to), zone).map((s) => s.offsetMinutes);
    expect(offsets('2026-01-01T00:00:00Z', '2026-02-01T00:00:00Z', 'Asia/Kolkata')).toEqual([330]);
    expect(offsets('2026-01-01T00:00:00Z', '2026-02-01T00:00:00Z', 'Australia/Lord_Howe')).toEqual([660]);
    expect(offsets('2026-01-01T00:00:00Z', '2026-07-01T00:00:00Z', 'Australia/Lord_Howe')).toEqual([660, 630]);
  });
});
