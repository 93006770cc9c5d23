import Holidays from 'date-holidays';
import { DateTime } from 'luxon';
import { foldKeyword } from '../../config/app-config.js';

/** Days (1 = Monday … 7 = Sunday, luxon's weekday) and local minutes when marketing SMS may leave. */
export interface MarketingHours {
  days: ReadonlySet<number>;
  startMinute: number;
  endMinute: number;
  text: string;
}

const DAY_NAMES = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
export const MARKETING_HOURS_PATTERN =
  /^\s*(mon|tue|wed|thu|fri|sat|sun)(\s*-\s*(mon|tue|wed|thu|fri|sat|sun))?\s+([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)\s*$/i;

/** `Mon-Sat 08:00-20:00` → the days and minutes; null when the text does not fit (validated at boot). */
export function parseMarketingHours(text: string): MarketingHours | null {
  const match = MARKETING_HOURS_PATTERN.exec(text);
  if (!match) return null;
  const first = DAY_NAMES.indexOf(match[1].toLowerCase()) + 1;
  const last = match[3] ? DAY_NAMES.indexOf(match[3].toLowerCase()) + 1 : first;
  const days = new Set<number>();
  // A range may wrap around the week (Sat-Mon).
  for (let d = first; ; d = (d % 7) + 1) {
    days.add(d);
    if (d === last) break;
  }
  const startMinute = Number(match[4]) * 60 + Number(match[5]);
  const endMinute = Number(match[6]) * 60 + Number(match[7]);
  if (endMinute <= startMinute || endMinute > 24 * 60) return null;
  return { days, startMinute, endMinute, text: text.trim() };
}

/**
 * Territories with a country code of their own (libphonenumber's region of a number) that are part of a country whose
 * public holidays date-holidays knows, with days of their own besides the national ones: France's overseas
 * departments and collectivities, which date-holidays lists as regions of FR under the same codes (Réunion's
 * 20 December, Martinique's 22 May). A country's subdivisions in general are not territories: date-holidays' region
 * `FR` of CH is Fribourg, not France.
 */
export const HOLIDAY_TERRITORIES: Readonly<Record<string, readonly string[]>> = {
  FR: ['RE', 'GP', 'MQ', 'GF', 'YT', 'BL', 'MF'],
};

/** Public holidays of one country, or of one of its HOLIDAY_TERRITORIES, from date-holidays (a maintained library), by local date `yyyy-MM-dd`. */
export class PublicHolidays {
  private readonly holidays: Holidays | null;
  private readonly years = new Map<number, Set<string>>();

  /** `country`: ISO code (FR); empty: no holidays. `territory`: one of the country's HOLIDAY_TERRITORIES, else its national days. */
  constructor(country: string, territory?: string | null) {
    this.holidays = !country
      ? null
      : PublicHolidays.isTerritoryOf(country, territory)
        ? new Holidays(country, territory!)
        : new Holidays(country);
  }

  /** Whether `territory` (a number's region) has days of its own within `country`'s calendar. */
  static isTerritoryOf(country: string, territory: string | null | undefined): boolean {
    return !!territory && territory !== country && (HOLIDAY_TERRITORIES[country]?.includes(territory) ?? false);
  }

  /** Whether this local date is a public holiday. */
  on(date: DateTime): boolean {
    if (!this.holidays) return false;
    let year = this.years.get(date.year);
    if (!year) {
      year = new Set(
        this.holidays
          .getHolidays(date.year)
          .filter((h) => h.type === 'public')
          .map((h) => h.date.slice(0, 10)),
      );
      this.years.set(date.year, year);
    }
    return year.has(date.toFormat('yyyy-MM-dd'));
  }
}

/**
 * When a marketing SMS may leave: inside the allowed hours of an allowed day, in the given time zone (or in every one
 * of the given zones: a country that spans several), never on a public holiday. `nextOpening(at)` is `at` itself
 * inside the window, else the next opening (a batch accepted at 21:00 on a Saturday leaves on Monday at 08:00).
 */
export class MarketingWindow {
  private readonly zones: readonly string[];
  /** Set once the zones' hours were found never to overlap: the fallback zone's hours from then on. */
  private apart = false;
  /** The last closed stretch found: from `from` until `opening` nothing opens (asked again by every held message). */
  private closed: { from: number; opening: Date } | null = null;

  /**
   * `timeZone`: one zone, or every zone of a country of several (zones that keep the same clock all year count once).
   * `fallbackZone`: whose hours hold when the zones' hours never overlap (DEFAULT_TIMEZONE; the first zone by default).
   */
  constructor(
    private readonly hours: MarketingHours,
    timeZone: string | readonly string[],
    private readonly holidays: PublicHolidays,
    private readonly fallbackZone?: string,
  ) {
    this.zones = typeof timeZone === 'string' ? [timeZone] : distinctClocks(timeZone);
    if (!this.zones.length) throw new Error('MarketingWindow needs a time zone');
  }

  isOpen(at: Date): boolean {
    return this.nextOpening(at).getTime() === at.getTime();
  }

  /**
   * With several zones, the first instant open in all of them: each zone's next opening from the latest found until
   * they agree (the window is open at the same instant everywhere). Zones too far apart for the hours to overlap
   * (Russia's eleven with a two-hour window) never agree: the fallback zone's hours then (DEFAULT_TIMEZONE's).
   */
  nextOpening(at: Date): Date {
    const t = at.getTime();
    if (this.closed && t >= this.closed.from && t < this.closed.opening.getTime()) return this.closed.opening;
    const opening = this.zones.length === 1 ? this.openingIn(this.zones[0]!, at) : this.commonOpening(at);
    // Nothing opens between `at` and a later opening: later asks in between have the same answer.
    if (opening.getTime() > t) this.closed = { from: t, opening };
    return opening;
  }

  private commonOpening(at: Date): Date {
    const fallback = this.fallbackZone ?? this.zones[0]!;
    if (this.apart) return this.openingIn(fallback, at);
    let candidate = at;
    for (let round = 0; round < 64; round++) {
      let latest = candidate;
      for (const zone of this.zones) {
        const opening = this.openingIn(zone, candidate);
        if (opening > latest) latest = opening;
      }
      if (latest.getTime() === candidate.getTime()) return candidate;
      candidate = latest;
    }
    this.apart = true;
    return this.openingIn(fallback, at);
  }

  private openingIn(zone: string, at: Date): Date {
    const local = DateTime.fromJSDate(at, { zone });
    // A year ahead always holds an allowed day unless the configuration allows none (refused at boot).
    for (let i = 0; i < 370; i++) {
      const day = local.startOf('day').plus({ days: i });
      if (!this.hours.days.has(day.weekday) || this.holidays.on(day)) continue;
      // Both ends are clock times of that day: on a DST-change day, minutes since midnight would be an hour off.
      const open = atClock(day, this.hours.startMinute);
      const close = atClock(day, this.hours.endMinute);
      if (i === 0 && local >= close) continue;
      return i === 0 && local >= open ? at : open.toJSDate();
    }
    throw new Error(`No allowed marketing hour within a year (${this.hours.text})`);
  }
}

/** `minute` (minutes after 00:00, up to 24:00) as the clock reads it on `day`, in `day`'s zone. */
function atClock(day: DateTime, minute: number): DateTime {
  if (minute >= 24 * 60) return day.plus({ days: 1 }).startOf('day');
  return day.set({ hour: Math.floor(minute / 60), minute: minute % 60 });
}

/** A text as the mention is looked for in it: case, accents, spaces and punctuation folded away. */
function squash(text: string): string {
  return foldKeyword(text).replace(/[\s\p{P}]+/gu, '');
}

const mentionPatterns = new Map<string, RegExp>();

/**
 * Where the mention is in a folded text: its letters and digits in order, any spaces or punctuation between them, and
 * neither a letter nor a digit right before or after it ("STOP au 36111" is not in "STOP au 361119").
 */
function mentionPattern(mention: string): RegExp {
  let pattern = mentionPatterns.get(mention);
  if (!pattern) {
    const body = [...squash(mention)].map((c) => c.replace(/[\^$.*+?()[\]{}|/\\]/g, '\\$&')).join('[\\s\\p{P}]*');
    pattern = new RegExp(`(?<![\\p{L}\\p{N}])${body}(?![\\p{L}\\p{N}])`, 'gu');
    mentionPatterns.set(mention, pattern);
  }
  pattern.lastIndex = 0;
  return pattern;
}

/**
 * The opt-out mention a marketing SMS must carry ("STOP au 36xxx"): appended on its own line unless the
 * text already contains it (case, accents, spacing and punctuation folded: "Désabonnement : répondez STOP"
 * is found in "desabonnement: REPONDEZ stop"; a longer number or word is not the mention: "STOP au 361119").
 */
export function withStopMention(body: string, mention: string): { body: string; appended: boolean } {
  if (!mention || !squash(mention) || mentionPattern(mention).test(foldKeyword(body))) return { body, appended: false };
  return { body: `${body.trimEnd()}\n${mention}`, appended: true };
}

/** Whether `body` says anything besides the opt-out mention (letters, digits or symbols such as emoji). */
export function hasTextBesidesMention(body: string, mention: string): boolean {
  const rest = mention && squash(mention) ? foldKeyword(body).replace(mentionPattern(mention), ' ') : body;
  return squash(rest).length > 0;
}

/**
 * One zone per clock: zones whose UTC offset is the same every day of the coming year (America/Detroit and
 * America/New_York) count once, the first of them. The United States' 29 zones are a handful of clocks.
 */
function distinctClocks(zones: readonly string[]): string[] {
  const DAY = 86_400_000;
  const now = Date.now();
  const seen = new Map<string, string>();
  for (const zone of zones) {
    const local = DateTime.now().setZone(zone);
    if (!local.isValid) continue;
    const offsets: number[] = [];
    for (let day = 0; day < 370; day++) offsets.push(local.zone.offset(now + day * DAY));
    const key = offsets.join(',');
    if (!seen.has(key)) seen.set(key, zone);
  }
  return [...seen.values()];
}
