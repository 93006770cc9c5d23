import { Injectable } from '@nestjs/common';
import { Clock } from '../../common/clock.js';
import { AppConfig } from '../../config/app-config.js';
import {
  hasTextBesidesMention,
  MarketingWindow,
  parseMarketingHours,
  PublicHolidays,
  timeZoneOfNumber,
  withStopMention,
  type MarketingHours,
} from './marketing-rules.js';

export type SmsCategory = 'transactional' | 'marketing';

/**
 * The French rules for marketing SMS, from the configuration: the opt-out mention they carry
 * (SMS_MARKETING_STOP_MENTION) and the hours they may leave (SMS_MARKETING_HOURS, never on a public holiday of
 * SMS_MARKETING_HOLIDAYS). Applied twice: when a batch is accepted (`notBefore`, in DEFAULT_TIMEZONE) and by
 * SmsDispatcher right before each message leaves (`heldUntil`), in the recipient's own zone (timeZoneOfNumber: a
 * Martinique number at 08:00 in Paris, 03:00 there, waits for 08:00 in Martinique), so a batch still sending when
 * the window closes, or a retry due after it, waits for the next opening. Transactional messages are never held.
 * "Now" is the injectable Clock.
 */
@Injectable()
export class MarketingPolicy {
  private readonly window: MarketingWindow;
  private readonly mention: string;
  private readonly hours: MarketingHours;
  private readonly holidays: PublicHolidays;
  private readonly timeZone: string;
  /** The window in each recipient zone met so far (DEFAULT_TIMEZONE's is `window`). */
  private readonly zoneWindows = new Map<string, MarketingWindow>();

  constructor(
    config: AppConfig,
    private readonly clock: Clock,
  ) {
    const hours = parseMarketingHours(config.marketing.hours);
    if (!hours) throw new Error(`SMS_MARKETING_HOURS is invalid: ${config.marketing.hours}`);
    this.hours = hours;
    this.holidays = new PublicHolidays(config.marketing.holidaysCountry);
    this.timeZone = config.defaultTimeZone;
    this.window = new MarketingWindow(hours, this.timeZone, this.holidays);
    this.zoneWindows.set(this.timeZone, this.window);
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

  /** The window in the zone of this number (DEFAULT_TIMEZONE's when none is known). */
  private windowFor(to: string | null | undefined): MarketingWindow {
    const zone = to ? timeZoneOfNumber(to, this.timeZone) : this.timeZone;
    let window = this.zoneWindows.get(zone);
    if (!window) this.zoneWindows.set(zone, (window = new MarketingWindow(this.hours, zone, this.holidays)));
    return window;
  }

  isOpen(at: Date): boolean {
    return this.window.isOpen(at);
  }
}
