import Holidays from 'date-holidays';
import { DateTime } from 'luxon';
import {
  hasTextBesidesMention,
  HOLIDAY_TERRITORIES,
  MarketingWindow,
  parseMarketingHours,
  PublicHolidays,
  withStopMention,
} from './marketing-rules.js';
import { timeZonesOfRegion } from '../../phone/region-time-zones.js';

const paris = (iso: string) => new Date(iso); // ISO strings below carry their offset

describe('parseMarketingHours', () => {
  it('reads days and hours', () => {
    const hours = parseMarketingHours('Mon-Sat 08:00-20:00')!;
    expect([...hours.days]).toEqual([1, 2, 3, 4, 5, 6]);
    expect(hours).toMatchObject({ startMinute: 480, endMinute: 1200 });
    expect([...parseMarketingHours('sat-mon 09:30-12:00')!.days]).toEqual([6, 7, 1]);
    expect([...parseMarketingHours('Wed 10:00-11:00')!.days]).toEqual([3]);
  });
  it.each(['', 'Mon-Sat', 'Mon-Sat 20:00-08:00', 'Lun-Sam 08:00-20:00', 'Mon-Sat 8:00-20:00'])('refuses %j', (text) =>
    expect(parseMarketingHours(text)).toBeNull(),
  );
});

describe('MarketingWindow (Mon-Sat 08:00-20:00, Europe/Paris, French public holidays)', () => {
  const window = new MarketingWindow(parseMarketingHours('Mon-Sat 08:00-20:00')!, 'Europe/Paris', new PublicHolidays('FR'));

  it('lets a message leave at once inside the window', () => {
    const at = paris('2026-03-11T10:15:00+01:00'); // Wednesday
    expect(window.nextOpening(at)).toEqual(at);
    expect(window.isOpen(at)).toBe(true);
  });

  it('holds a batch accepted at 21:00 on a Saturday until Monday 08:00', () => {
    expect(window.nextOpening(paris('2026-03-14T21:00:00+01:00'))).toEqual(paris('2026-03-16T08:00:00+01:00'));
  });

  it('holds one accepted before 08:00 until 08:00 the same day, and one at 20:00 until the next day', () => {
    expect(window.nextOpening(paris('2026-03-11T06:59:00+01:00'))).toEqual(paris('2026-03-11T08:00:00+01:00'));
    expect(window.nextOpening(paris('2026-03-11T20:00:00+01:00'))).toEqual(paris('2026-03-12T08:00:00+01:00'));
  });

  it('skips French public holidays (Easter Monday 2026, 1 May, 14 July) from date-holidays', () => {
    // Saturday 4 April 2026 evening → Monday 6 April is Lundi de Pâques → Tuesday 7 April.
    expect(window.nextOpening(paris('2026-04-04T20:30:00+02:00'))).toEqual(paris('2026-04-07T08:00:00+02:00'));
    expect(window.nextOpening(paris('2026-05-01T10:00:00+02:00'))).toEqual(paris('2026-05-02T08:00:00+02:00'));
    expect(window.isOpen(paris('2026-07-14T12:00:00+02:00'))).toBe(false);
  });

  it('opens at 08:00 local time across the DST change', () => {
    // Saturday 28 March 2026 21:00 (UTC+1) → Sunday is the change → Monday 30 March 08:00 is UTC+2.
    expect(window.nextOpening(paris('2026-03-28T21:00:00+01:00')).toISOString()).toBe('2026-03-30T06:00:00.000Z');
  });

  it('closes at 20:00 local time on the Sundays the clocks change (when Sunday is allowed)', () => {
    const everyDay = new MarketingWindow(parseMarketingHours('Mon-Sun 08:00-20:00')!, 'Europe/Paris', new PublicHolidays(''));
    // 28 March 2027: 02:00 became 03:00 (23-hour day); 25 October 2026: 03:00 became 02:00 (25-hour day).
    expect(everyDay.isOpen(paris('2027-03-28T19:59:00+02:00'))).toBe(true);
    expect(everyDay.isOpen(paris('2027-03-28T20:30:00+02:00'))).toBe(false);
    expect(everyDay.nextOpening(paris('2027-03-28T20:30:00+02:00'))).toEqual(paris('2027-03-29T08:00:00+02:00'));
    expect(everyDay.isOpen(paris('2026-10-25T19:30:00+01:00'))).toBe(true);
    expect(everyDay.isOpen(paris('2026-10-25T20:00:00+01:00'))).toBe(false);
  });

  it('a window up to 24:00 closes at midnight, also on a DST-change day', () => {
    const lateHours = new MarketingWindow(parseMarketingHours('Mon-Sun 08:00-24:00')!, 'Europe/Paris', new PublicHolidays(''));
    expect(lateHours.isOpen(paris('2026-10-25T23:59:00+01:00'))).toBe(true);
    expect(lateHours.nextOpening(paris('2026-10-25T23:59:30+01:00'))).toEqual(paris('2026-10-25T23:59:30+01:00'));
    expect(lateHours.isOpen(paris('2026-10-26T00:00:00+01:00'))).toBe(false);
    expect(lateHours.nextOpening(paris('2026-10-26T00:00:00+01:00'))).toEqual(paris('2026-10-26T08:00:00+01:00'));
  });

  it('without a holiday country, a public holiday is an ordinary day', () => {
    const noHolidays = new MarketingWindow(parseMarketingHours('Mon-Sat 08:00-20:00')!, 'Europe/Paris', new PublicHolidays(''));
    expect(noHolidays.isOpen(paris('2026-07-14T12:00:00+02:00'))).toBe(true);
  });
});

describe('withStopMention', () => {
  it('appends the mention on its own line when it is missing', () => {
    expect(withStopMention('Soldes -20% ce week-end ', 'STOP au 36111')).toEqual({
      body: 'Soldes -20% ce week-end\nSTOP au 36111',
      appended: true,
    });
  });
  it('leaves a text that already carries it (case and accents folded)', () => {
    expect(withStopMention('Soldes ! stop AU 36111', 'STOP au 36111')).toEqual({ body: 'Soldes ! stop AU 36111', appended: false });
  });
  it('leaves a text that carries it with other spacing or punctuation', () => {
    const mention = 'Désabonnement : répondez STOP';
    for (const body of ['Soldes\nDesabonnement: repondez stop', 'Soldes. DÉSABONNEMENT - RÉPONDEZ  STOP !']) {
      expect(withStopMention(body, mention)).toEqual({ body, appended: false });
    }
  });
  it('appends it when the text only has a longer number or word that starts or ends like it', () => {
    for (const body of ['Promo ! STOP au 361119', 'Promo ! STOP au 36111234', 'Promo ! NONSTOP au 36111', 'Promo ! STOP au 36111a']) {
      expect(withStopMention(body, 'STOP au 36111'), body).toEqual({ body: `${body}\nSTOP au 36111`, appended: true });
    }
    expect(withStopMention('Promo (STOP au 36111).', 'STOP au 36111').appended).toBe(false);
    expect(withStopMention('Promo\nSTOP au 36 111', 'STOP au 36111').appended).toBe(false);
  });
});

describe('hasTextBesidesMention', () => {
  const mention = 'Désabonnement : répondez STOP';
  it('is false for the mention alone, however it is written', () => {
    for (const body of [
      mention,
      'désabonnement : RÉPONDEZ stop',
      '\n Desabonnement: repondez STOP.',
      '- Désabonnement : répondez STOP -',
    ]) {
      expect(hasTextBesidesMention(body, mention), body).toBe(false);
    }
  });
  it('is true once there is anything else to read: words, digits, emoji', () => {
    for (const body of [`Soldes\n${mention}`, `-20%\n${mention}`, `🎉\n${mention}`, 'Bonjour']) {
      expect(hasTextBesidesMention(body, mention), body).toBe(true);
    }
  });
  it('counts a longer number that contains the mention as text of its own', () => {
    expect(hasTextBesidesMention('STOP au 361119', 'STOP au 36111')).toBe(true);
    expect(hasTextBesidesMention(' stop  AU 36 111 ', 'STOP au 36111')).toBe(false);
  });
});

describe('MarketingWindow over several zones', () => {
  const hours = parseMarketingHours('Mon-Sat 08:00-20:00')!;
  const polynesia = new MarketingWindow(hours, ['Pacific/Gambier', 'Pacific/Marquesas', 'Pacific/Tahiti'], new PublicHolidays(''));

  it('opens when the hours are open in every zone: 08:00 in Tahiti, the last of the three', () => {
    // Monday 1 March 2027 10:00 in Paris = Sunday 28 February 23:00 in Tahiti: closed there (Sunday, then night).
    expect(polynesia.nextOpening(new Date('2027-03-01T09:00:00Z')).toISOString()).toBe('2027-03-01T18:00:00.000Z');
    expect(polynesia.isOpen(new Date('2027-03-01T17:59:00Z'))).toBe(false); // 07:59 Tahiti, 08:59 Gambier
    expect(polynesia.isOpen(new Date('2027-03-01T18:00:00Z'))).toBe(true);
  });

  it('closes when the first zone closes: 20:00 in the Gambier, 19:00 in Tahiti', () => {
    expect(polynesia.isOpen(new Date('2027-03-02T04:59:00Z'))).toBe(true);
    // Tuesday 05:00Z: 20:00 Monday in the Gambier; Tahiti opens again at 08:00 Tuesday (18:00Z).
    expect(polynesia.nextOpening(new Date('2027-03-02T05:00:00Z')).toISOString()).toBe('2027-03-02T18:00:00.000Z');
  });

  it('finds the first moment open in both zones across a weekend (Paris closed on Sunday, Tahiti at night on Monday morning)', () => {
    const parisAndTahiti = new MarketingWindow(hours, ['Europe/Paris', 'Pacific/Tahiti'], new PublicHolidays(''));
    // Saturday 6 March 2027 18:00Z: 19:00 Paris (open), 08:00 Tahiti (open).
    expect(parisAndTahiti.isOpen(new Date('2027-03-06T18:00:00Z'))).toBe(true);
    // 19:00Z: 20:00 in Paris, closed until Monday 08:00 Paris (07:00Z), which is Sunday 21:00 in Tahiti; Tahiti opens
    // Monday 08:00 (18:00Z), Paris still open then (19:00).
    expect(parisAndTahiti.nextOpening(new Date('2027-03-06T19:00:00Z')).toISOString()).toBe('2027-03-08T18:00:00.000Z');
  });

  it("uses the fallback zone's hours (DEFAULT_TIMEZONE's) when the zones' hours never overlap, and keeps to it", () => {
    const narrow = parseMarketingHours('Mon-Sat 10:00-12:00')!;
    const apart = new MarketingWindow(narrow, ['Pacific/Tahiti', 'Europe/Paris'], new PublicHolidays(''), 'Europe/Paris');
    expect(apart.nextOpening(new Date('2027-03-03T06:00:00Z')).toISOString()).toBe('2027-03-03T09:00:00.000Z'); // 10:00 Paris
    expect(apart.isOpen(new Date('2027-03-03T10:59:00Z'))).toBe(true); // 11:59 Paris, 00:59 Tahiti
  });

  it('answers again from the closed stretch it found, and counts zones that keep one clock once', () => {
    const us = new MarketingWindow(hours, timeZonesOfRegion('US', 'Europe/Paris'), new PublicHolidays(''));
    // Sunday: closed everywhere until Monday 08:00 in Hawaii (UTC-10: 18:00 UTC), when it is 13:00 in New York.
    const opening = us.nextOpening(new Date('2027-03-07T12:00:00Z'));
    expect(opening.toISOString()).toBe('2027-03-08T18:00:00.000Z');
    expect(us.nextOpening(new Date('2027-03-08T17:59:59Z'))).toBe(opening);
    expect(us.isOpen(new Date('2027-03-08T18:00:00Z'))).toBe(true);
  });

  it("uses the first zone's hours when the zones' hours never overlap", () => {
    const narrow = parseMarketingHours('Mon-Sat 10:00-12:00')!;
    const apart = new MarketingWindow(narrow, ['Europe/Paris', 'Pacific/Tahiti'], new PublicHolidays(''));
    const at = new Date('2027-03-03T06:00:00Z'); // Wednesday 07:00 in Paris
    expect(apart.nextOpening(at).toISOString()).toBe('2027-03-03T09:00:00.000Z'); // 10:00 in Paris
  });
});

describe('PublicHolidays of a region', () => {
  const day = (iso: string) => DateTime.fromISO(iso, { zone: 'Europe/Paris' });

  it('has every territory of HOLIDAY_TERRITORIES among the regions date-holidays knows in its country', () => {
    for (const [country, territories] of Object.entries(HOLIDAY_TERRITORIES)) {
      const regions = Object.keys(new Holidays().getStates(country) ?? {});
      expect(regions, country).toEqual(expect.arrayContaining([...territories]));
    }
  });

  it("takes a number's region for a territory only within its own country: FR is France, not Fribourg (CH)", () => {
    expect(PublicHolidays.isTerritoryOf('FR', 'RE')).toBe(true);
    expect(PublicHolidays.isTerritoryOf('FR', 'FR')).toBe(false);
    expect(PublicHolidays.isTerritoryOf('CH', 'FR')).toBe(false);
    expect(PublicHolidays.isTerritoryOf('DE', 'BE')).toBe(false);
    expect(PublicHolidays.isTerritoryOf('FR', null)).toBe(false);
    expect(PublicHolidays.isTerritoryOf('', 'RE')).toBe(false);
  });

  it("adds a region's own days to the country's: Réunion's 20 December, Martinique's 22 May", () => {
    expect(new PublicHolidays('FR', 'RE').on(day('2026-12-20'))).toBe(true);
    expect(new PublicHolidays('FR').on(day('2026-12-20'))).toBe(false);
    expect(new PublicHolidays('FR', 'MQ').on(day('2026-05-22'))).toBe(true);
    expect(new PublicHolidays('FR', 'RE').on(day('2026-12-25'))).toBe(true);
  });

  it("keeps the country's days for a region it does not know", () => {
    const unknown = new PublicHolidays('FR', 'US');
    expect(unknown.on(day('2026-07-14'))).toBe(true);
    expect(unknown.on(day('2026-12-20'))).toBe(false);
  });
});
