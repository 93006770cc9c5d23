import { Injectable } from '@nestjs/common';
import { Clock } from '../../common/clock.js';
import { AppConfig } from '../../config/app-config.js';
import { PhoneNumberService } from '../../phone/phone-number.service.js';
import { timeZonesOfRegion } from '../../phone/region-time-zones.js';
import {
  hasTextBesidesMention,
  MarketingWindow,
  parseMarketingHours,
  PublicHolidays,
  withStopMention,
  type MarketingHours,
} from './marketing-rules.js';

export type SmsCategory = 'transactional' | 'marketing';

/**
 * The French rules for marketing SMS, from the configuration: the opt-out mention they carry
 * (SMS_MARKETING_STOP_MENTION) and the hours they may leave (SMS_MARKETING_HOURS, never on a public holiday of
 * SMS_MARKETING_HOLIDAYS). Applied twice: when a batch is accepted (`notBefore`, in DEFAULT_TIMEZONE) and by
 * SmsDispatcher right before each message leaves (`heldUntil`), by the recipient's own clock and calendar: the zone
 * of its number's territory (timeZonesOfRegion: a Martinique number at 08:00 in Paris, 03:00 there, waits for 08:00
 * in Martinique; a number of a country of several zones waits until the hours are open in all of them) and that territory's public holidays when it is one of SMS_MARKETING_HOLIDAYS's overseas
 * territories (HOLIDAY_TERRITORIES: a Réunion number waits out Réunion's 20 December). So a batch still sending when the window
 * closes, or a retry due after it, waits for the next opening. Transactional messages are never held. "Now" is the
 * injectable Clock.
 */
@Injectable()
export class MarketingPolicy {
  private readonly window: MarketingWindow;
  private readonly mention: string;
  private readonly hours: MarketingHours;
  private readonly holidaysCountry: string;
  private readonly timeZone: string;
  /** The window of each (zone, holiday region) met so far, keyed `zone|region` (DEFAULT_TIMEZONE's is `window`). */
  private readonly windows = new Map<string, MarketingWindow>();

  constructor(
    config: AppConfig,
    private readonly clock: Clock,
    private readonly phones: PhoneNumberService,
  ) {
    const hours = parseMarketingHours(config.marketing.hours);
    if (!hours) throw new Error(`SMS_MARKETING_HOURS is invalid: ${config.marketing.hours}`);
    this.hours = hours;
    this.holidaysCountry = config.marketing.holidaysCountry;
    this.timeZone = config.defaultTimeZone;
    this.window = new MarketingWindow(hours, this.timeZone, new PublicHolidays(this.holidaysCountry));
    this.windows.set(`${this.timeZone}|`, this.window);
    this.mention = config.marketing.stopMention;
  }

  /** The text a marketing message goes out with (the mention appended when missing). */
  withMention(body: string): { body: string; appended: boolean } {
    return withStopMention(body, this.mention);
  }

  /** Whether a marketing text says anything besides its opt-out mention (the mention alone is not a message). */
  hasTextBesidesMention(body: string): boolean {
    return hasTextBesidesMention(body, this.mention);
  }

  /** When a message of this category may leave, asked to leave at `requested` (now by default). */
  notBefore(category: SmsCategory, requested?: Date | null): Date | null {
    if (category !== 'marketing') return requested ?? null;
    const at = requested ?? this.clock.now();
    const opening = this.window.nextOpening(at);
    return opening.getTime() === at.getTime() ? (requested ?? null) : opening;
  }

  /**
   * Asked right before a message leaves: null when it may go now, else the next opening of the window in the
   * recipient's zone (a marketing message claimed after closing time there, on a closed day or a public holiday).
   */
  heldUntil(category: string | null | undefined, to?: string | null): Date | null {
    if (category !== 'marketing') return null;
    const now = this.clock.now();
    const opening = this.windowFor(to).nextOpening(now);
    return opening.getTime() === now.getTime() ? null : opening;
  }

  /**
   * The window of this number: in its territory's zone (in each zone of a country of several; DEFAULT_TIMEZONE's when
   * none is known), with its territory's holidays when it is one of SMS_MARKETING_HOLIDAYS's HOLIDAY_TERRITORIES, else
   * that country's.
   */
  private windowFor(to: string | null | undefined): MarketingWindow {
    const territory = to ? this.phones.format(to).country : null;
    const zones = timeZonesOfRegion(territory, this.timeZone);
    const region = PublicHolidays.isTerritoryOf(this.holidaysCountry, territory) ? territory! : '';
    const key = `${zones.join(',')}|${region}`;
    let window = this.windows.get(key);
    if (!window) {
      window = new MarketingWindow(this.hours, zones, new PublicHolidays(this.holidaysCountry, region), this.timeZone);
      this.windows.set(key, window);
    }
    return window;
  }

  isOpen(at: Date): boolean {
    return this.window.isOpen(at);
  }
}
