import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { IsIsoDateTime, isoDateMessage, parseIsoDate, parseIsoInstant } from './iso-date.js';

class Filter {
  @IsIsoDateTime()
  from?: Date;
}

class Body {
  @IsIsoDateTime({ dateOnly: false })
  startsAt!: Date;
}

const problemsOf = <T extends object>(type: new () => T, plain: object): string[] =>
  validateSync(plainToInstance(type, plain)).flatMap((error) => Object.values(error.constraints ?? {}));

describe('parseIsoDate', () => {
  it.each([
    ['2030-01-15T14:30:00+01:00', '2030-01-15T13:30:00.000Z'],
    ['2030-01-15T13:30Z', '2030-01-15T13:30:00.000Z'],
    ['2030-01-15T14:30:00.123+0100', '2030-01-15T13:30:00.123Z'],
    ['2030-06-15T14:30:00-04:00', '2030-06-15T18:30:00.000Z'],
    // RFC 3339: lower-case t and z, or a space between date and time.
    ['2030-01-15t13:30:00z', '2030-01-15T13:30:00.000Z'],
    ['2030-01-15 14:30:00+01:00', '2030-01-15T13:30:00.000Z'],
  ])('should read %s with its offset', (text, iso) => {
    expect(parseIsoDate(text)).toEqual({ ok: true, date: new Date(iso), dateOnly: false });
  });

  it.each([
    '2030-02-31T10:00:00Z',
    '2030-13-01T10:00:00Z',
    '2030-01-15T25:00:00Z',
    '2030-01-15T24:00:00Z',
    '2030-01-15T10:61:00Z',
    '2030-01-15T10:00:00+24:00',
  ])('should refuse the impossible %s instead of rolling it over', (text) => {
    expect(parseIsoDate(text)).toEqual({ ok: false, problem: 'impossible' });
  });

  it.each(['9999-12-31T23:59:59-23:59', '0000-06-01T00:00:00Z', '0001-01-01T00:00:00+01:00'])(
    'should refuse %s, outside the years 1 to 9999 in UTC (SQLite would store 10000 as 0000)',
    (text) => {
      expect(parseIsoDate(text)).toEqual({ ok: false, problem: 'out_of_range' });
    },
  );

  it('should keep the first and last instants of the years 1 to 9999, and refuse a date alone that starts before them', () => {
    expect(parseIsoDate('9999-12-31T23:59:59Z')).toMatchObject({ ok: true });
    expect(parseIsoDate('0001-01-01T00:00:00Z')).toMatchObject({ ok: true });
    expect(parseIsoDate('0001-01-01', { timeZone: 'Europe/Paris' })).toEqual({ ok: false, problem: 'out_of_range' });
  });

  it('should refuse a date-time without an offset instead of reading it in the server zone', () => {
    expect(parseIsoDate('2030-01-15T14:30')).toEqual({ ok: false, problem: 'no_offset' });
    expect(parseIsoDate('2030-01-15T14:30:00')).toEqual({ ok: false, problem: 'no_offset' });
  });

  it("should tell an offset's + read as a space (an unencoded query string) from any other bad format", () => {
    for (const text of ['2030-01-15T14:30:00 01:00', '2030-01-15T14:30 0100', '2030-01-15 14:30:00.123 01:00'])
      expect(parseIsoDate(text), text).toEqual({ ok: false, problem: 'plus_as_space' });
    expect(parseIsoDate('2030-01-15T14:30:00 1:00')).toEqual({ ok: false, problem: 'format' });
    expect(isoDateMessage('since', 'plus_as_space')).toMatch(/^since's offset reached the service as a space: .* %2B/);
  });

  it('should read a date alone as the start of that day in the given zone', () => {
    expect(parseIsoDate('2030-01-15', { timeZone: 'Europe/Paris' })).toEqual({
      ok: true,
      date: new Date('2030-01-14T23:00:00Z'),
      dateOnly: true,
    });
    expect(parseIsoDate('2030-07-15', { timeZone: 'Europe/Paris' })).toMatchObject({ date: new Date('2030-07-14T22:00:00Z') });
    expect(parseIsoDate('2030-02-30', { timeZone: 'Europe/Paris' })).toEqual({ ok: false, problem: 'impossible' });
    expect(parseIsoDate('2030-01-15', { dateOnly: false })).toEqual({ ok: false, problem: 'date_only' });
  });

  it.each([42, null, '', 'tomorrow', '15/01/2030', '2030-W03-2', '2030-015', `2030-01-15T14:30:00Z${' '.repeat(50)}`])(
    'should refuse %j as not ISO 8601',
    (value) => {
      expect(parseIsoDate(value)).toEqual({ ok: false, problem: 'format' });
    },
  );

  it('parseIsoInstant (template startsAt) follows the same rule', () => {
    expect(parseIsoInstant('2030-01-15T14:30:00+01:00')).toEqual(new Date('2030-01-15T13:30:00Z'));
    expect(parseIsoInstant('2030-02-31T10:00:00Z')).toBeUndefined();
    expect(parseIsoInstant('2030-01-15')).toBeUndefined();
  });
});

describe('@IsIsoDateTime', () => {
  it('should turn a valid value into a Date', () => {
    const filter = plainToInstance(Filter, { from: '2030-01-15T13:30:00Z' });
    expect(filter.from).toEqual(new Date('2030-01-15T13:30:00Z'));
    expect(validateSync(filter)).toEqual([]);
  });

  it('should say why a value is refused', () => {
    expect(problemsOf(Body, { startsAt: '2030-01-15T14:30' })).toEqual([
      expect.stringMatching(/^startsAt must say its offset.*Z.*\+01:00/),
    ]);
    expect(problemsOf(Body, { startsAt: '2030-02-31T10:00:00Z' })).toEqual([expect.stringMatching(/^startsAt is not a real date/)]);
    expect(problemsOf(Body, { startsAt: '2030-01-15' })).toEqual([expect.stringMatching(/^startsAt needs a time/)]);
    expect(problemsOf(Filter, { from: 'soon' })).toEqual([expect.stringMatching(/^from must be an ISO 8601 date-time/)]);
    expect(problemsOf(Filter, { from: '9999-12-31T23:59:59-23:59' })).toEqual(['from must fall between the years 1 and 9999 (UTC)']);
    expect(problemsOf(Filter, { from: ['2030-01-15', '2030-01-16'] })).toHaveLength(1);
  });
});
