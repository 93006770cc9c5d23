/** The IANA zones of each region, as ICU knows them (`Intl.Locale`), asked once per region. */
const regionZones = new Map<string, readonly string[]>();

/**
 * The time zones a recipient may read the clock in, from its number's country or territory (PhoneNumberService's
 * `country`): that region's zone when it has one (`MQ` Martinique: America/Martinique; `RE` Réunion: Indian/Reunion;
 * `FR`: Europe/Paris), every zone of a region that spans several (`PF` French Polynesia: Gambier, Marquesas and Tahiti,
 * 11 hours from Paris; `US`), `fallback` (DEFAULT_TIMEZONE) for a number placed nowhere or a region ICU has no zone
 * for. The zones come from the ICU data Node ships (`Intl.Locale#getTimeZones`, `timeZones` before Node 22), not from
 * a table here. Read by the marketing hours (a recipient's clock) and the reminders' quiet hours (a client's night).
 */
export function timeZonesOfRegion(region: string | null | undefined, fallback: string): readonly string[] {
  if (!region) return [fallback];
  let zones = regionZones.get(region);
  if (!zones) {
    const locale = new Intl.Locale(`und-${region}`) as Intl.Locale & { getTimeZones?: () => string[]; timeZones?: string[] };
    zones = (typeof locale.getTimeZones === 'function' ? locale.getTimeZones() : locale.timeZones) ?? [];
    regionZones.set(region, zones);
  }
  return zones.length ? zones : [fallback];
}

/**
 * The zones whose quiet hours a reminder to a number of `region` keeps: `home`'s (DEFAULT_TIMEZONE: the scan's, the
 * operator's), and the client's own when the region has one zone of its own that differs (Réunion, 3 hours ahead of
 * Paris in winter: a morning appointment's reminder moved before Paris's 21:00 reached the client at midnight there). A
 * country of several zones, or a number placed nowhere: `home`'s only.
 */
export function quietHoursZones(region: string | null | undefined, home: string): readonly string[] {
  const zones = timeZonesOfRegion(region, home);
  return zones.length === 1 && zones[0] !== home ? [home, zones[0]!] : [home];
}

/**
 * The zone a recipient of a number of `region` reads the clock in, for the date and time written in its SMS: the
 * region's when it has exactly one (Martinique's, Réunion's: an appointment at 02:51 UTC is "vendredi 27 novembre à
 * 22:51" in Martinique, not Paris's "samedi 28 novembre à 03:51"); `home` (DEFAULT_TIMEZONE) for a region of several
 * zones or a number placed nowhere.
 */
export function readingTimeZone(region: string | null | undefined, home: string): string {
  const zones = timeZonesOfRegion(region, home);
  return zones.length === 1 ? zones[0]! : home;
}
