import { localDays, offsetStretches, wholeHourOffsets } from './sms-stats.service.js';

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

describe('wholeHourOffsets', () => {
  it('holds for Paris all year, clock changes included, and not for India (+05:30) or a period reaching the Lord Howe winter (+11, then +10:30)', () => {
    expect(wholeHourOffsets(new Date('2026-01-01T00:00:00Z'), new Date('2027-01-01T00:00:00Z'), 'Europe/Paris')).toBe(true);
    expect(wholeHourOffsets(new Date('2026-01-01T00:00:00Z'), new Date('2026-01-02T00:00:00Z'), 'Asia/Kolkata')).toBe(false);
    expect(wholeHourOffsets(new Date('2026-01-01T00:00:00Z'), new Date('2026-01-02T00:00:00Z'), 'Australia/Lord_Howe')).toBe(true);
    expect(wholeHourOffsets(new Date('2026-01-01T00:00:00Z'), new Date('2026-07-01T00:00:00Z'), 'Australia/Lord_Howe')).toBe(false);
    expect(wholeHourOffsets(new Date('2026-01-01T00:00:00Z'), new Date('2026-01-02T00:00:00Z'), 'America/Martinique')).toBe(true);
  });
});

describe('offsetStretches', () => {
  const iso = (stretches: ReturnType<typeof offsetStretches>) => stretches.map((s) => [s.end?.toISOString() ?? null, s.offsetHours]);

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

  it('finds a change at local midnight (Santiago, September 2026)', () => {
    const stretches = offsetStretches(new Date('2026-09-01T00:00:00Z'), new Date('2026-09-30T00:00:00Z'), 'America/Santiago');
    expect(stretches).toHaveLength(2);
    expect(stretches.map((s) => s.offsetHours)).toEqual([-4, -3]);
  });
});
