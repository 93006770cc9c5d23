import { applyDecorators } from '@nestjs/common';
import { Transform } from 'class-transformer';
import { ValidateBy, type ValidationArguments } from 'class-validator';
import { DateTime } from 'luxon';

/**
 * The one rule for every date the API reads (bodies, filters, template data):
 * - a date-time must carry its offset: `2030-01-15T14:30:00+01:00` or `2030-01-15T13:30:00Z`
 *   (seconds and fractions optional); without one it is refused, never read in the server's zone;
 * - an impossible date or time (`2030-02-31`, `25:00`, offset `+24:00`) is refused, never rolled over;
 * - a date alone (`2030-01-15`), where the field accepts one, is the start of that day in
 *   DEFAULT_TIMEZONE (see {@link setDateOnlyTimeZone});
 * - the instant falls within the years 1 to 9999 in UTC (`9999-12-31T23:59:59-23:59` is in 10000): what both
 *   databases store as written (TypeORM writes SQLite's four-digit year, 10000 became 0000).
 */
const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

const PLUS_AS_SPACE = /T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)? \d{2}:?\d{2}$/;

export type IsoDateProblem = 'format' | 'impossible' | 'no_offset' | 'date_only' | 'out_of_range' | 'plus_as_space';

export type IsoDateResult = { ok: true; date: Date; dateOnly: boolean } | { ok: false; problem: IsoDateProblem };

export interface IsoDateOptions {
  /** Accept a date alone (start of that day in `timeZone`); default true. */
  dateOnly?: boolean;
  /** Zone of a date alone; default the one set by {@link setDateOnlyTimeZone} (DEFAULT_TIMEZONE). */
  timeZone?: string;
}

let dateOnlyTimeZone = 'Europe/Paris';

/** Called once at boot with DEFAULT_TIMEZONE: the zone in which a date alone is read. */
export function setDateOnlyTimeZone(timeZone: string): void {
  if (!DateTime.now().setZone(timeZone).isValid) throw new Error(`Unknown time zone ${JSON.stringify(timeZone)}`);
  dateOnlyTimeZone = timeZone;
}

/** Parses `text` by the rule above; never throws. */
export function parseIsoDate(input: unknown, options: IsoDateOptions = {}): IsoDateResult {
  if (typeof input !== 'string' || input.length > 40) return { ok: false, problem: 'format' };
  // RFC 3339 also allows a lower-case t and z, and a space between the date and the time.
  const text = input.replace(/^(\d{4}-\d{2}-\d{2})[t ](?=\d)/, '$1T').replace(/z$/, 'Z');
  const match = ISO_DATE.exec(text);
  // `…T14:30:00 01:00`: a `+01:00` sent unencoded in a query string, which reads `+` as a space.
  if (!match) return { ok: false, problem: PLUS_AS_SPACE.test(text) ? 'plus_as_space' : 'format' };
  const [, , , , hour, , , offset] = match;
  if (hour === undefined) {
    if (options.dateOnly === false) return { ok: false, problem: 'date_only' };
    const day = DateTime.fromISO(text, { zone: options.timeZone ?? dateOnlyTimeZone });
    return day.isValid ? inRange(day.startOf('day').toJSDate(), true) : { ok: false, problem: 'impossible' };
  }
  if (offset === undefined) return { ok: false, problem: 'no_offset' };
  // Luxon reads 24:00 as the next midnight: the rule refuses every rollover.
  if (Number(hour) > 23) return { ok: false, problem: 'impossible' };
  if (offset !== 'Z') {
    const digits = offset.replace(':', '');
    if (Number(digits.slice(1, 3)) > 23 || Number(digits.slice(3, 5)) > 59) return { ok: false, problem: 'impossible' };
  }
  const instant = DateTime.fromISO(text, { setZone: true });
  return instant.isValid ? inRange(instant.toJSDate(), false) : { ok: false, problem: 'impossible' };
}

function inRange(date: Date, dateOnly: boolean): IsoDateResult {
  const year = date.getUTCFullYear();
  return year >= 1 && year <= 9999 ? { ok: true, date, dateOnly } : { ok: false, problem: 'out_of_range' };
}

/** An ISO 8601 date-time with an offset (never a date alone), or undefined: template data's `startsAt`. */
export function parseIsoInstant(text: string): Date | undefined {
  const result = parseIsoDate(text, { dateOnly: false });
  return result.ok ? result.date : undefined;
}

/** What the caller is told, per problem. */
export function isoDateMessage(field: string, problem: IsoDateProblem): string {
  switch (problem) {
    case 'no_offset':
      return `${field} must say its offset from UTC: add Z or an offset such as +01:00 (e.g. 2030-01-15T14:30:00+01:00)`;
    case 'impossible':
      return `${field} is not a real date and time (check the day of the month, the hour and the offset)`;
    case 'out_of_range':
      return `${field} must fall between the years 1 and 9999 (UTC)`;
    case 'plus_as_space':
      return `${field}'s offset reached the service as a space: a + in a query string must be written %2B (e.g. 2030-01-15T14:30:00%2B01:00), or give the time in UTC with Z`;
    case 'date_only':
      return `${field} needs a time and its offset, not only a date (e.g. 2030-01-15T14:30:00+01:00)`;
    default:
      return `${field} must be an ISO 8601 date-time with an offset, such as 2030-01-15T14:30:00+01:00 or 2030-01-15T13:30:00Z`;
  }
}

/** What a refused value becomes after the transform, so the validator can say why. */
class InvalidIsoDate {
  constructor(readonly problem: IsoDateProblem) {}
}

/**
 * An ISO 8601 date-time in a query or body, turned into a Date by {@link parseIsoDate}; a refused
 * value is a 400 saying why (`startsAt must say its offset from UTC: add Z or …`).
 * `@IsIsoDateTime({ dateOnly: false })` for instants (`startsAt`, `sendAt`); filters accept a date alone.
 */
export function IsIsoDateTime(options: IsoDateOptions = {}): PropertyDecorator {
  return applyDecorators(
    Transform(({ value }) => {
      if (value instanceof Date) return value;
      const result = parseIsoDate(value, options);
      return result.ok ? result.date : new InvalidIsoDate(result.problem);
    }),
    ValidateBy({
      name: 'isIsoDateTime',
      validator: {
        validate: (value: unknown) => value instanceof Date && !Number.isNaN(value.getTime()),
        defaultMessage: (args?: ValidationArguments) =>
          isoDateMessage(args?.property ?? 'date', args?.value instanceof InvalidIsoDate ? args.value.problem : 'format'),
      },
    }),
  );
}

/**
 * The end of a range given with its start (`to` with `from`, `until` with `since`) must not be before it: 400
 * `to must not be before from` instead of an empty page that looks like "nothing happened".
 */
export function IsNotBefore(start: string): PropertyDecorator {
  return ValidateBy({
    name: 'isNotBefore',
    constraints: [start],
    validator: {
      validate: (value: unknown, args?: ValidationArguments) => {
        const from = (args?.object as Record<string, unknown> | undefined)?.[start];
        return !(value instanceof Date && from instanceof Date) || value.getTime() >= from.getTime();
      },
      defaultMessage: (args?: ValidationArguments) => `${args?.property ?? 'end'} must not be before ${start}`,
    },
  });
}
