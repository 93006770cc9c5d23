import { Injectable } from '@nestjs/common';
import { Clock } from '../../common/clock.js';
import { AppConfig } from '../../config/app-config.js';
import { hasTextBesidesMention, MarketingWindow, parseMarketingHours, PublicHolidays, withStopMention } from './marketing-rules.js';

export type SmsCategory = 'transactional' | 'marketing';

/**
 * The French rules for marketing SMS, from the configuration: the opt-out mention they carry
 * (SMS_MARKETING_STOP_MENTION) and the hours they may leave (SMS_MARKETING_HOURS in DEFAULT_TIMEZONE,
 * never on a public holiday of SMS_MARKETING_HOLIDAYS). Applied twice: when a batch is accepted
 * (`notBefore`) and by SmsDispatcher right before each message leaves (`heldUntil`), so a batch still
 * sending when the window closes, or a retry due after it, waits for the next opening. Transactional
 * messages are never held. "Now" is the injectable Clock.
 */
@Injectable()
export class MarketingPolicy {
  private readonly window: MarketingWindow;
  private readonly mention: string;

  constructor(
    config: AppConfig,
    private readonly clock: Clock,
  ) {
    const hours = parseMarketingHours(config.marketing.hours);
    if (!hours) throw new Error(`SMS_MARKETING_HOURS is invalid: ${config.marketing.hours}`);
    this.window = new MarketingWindow(hours, config.defaultTimeZone, new PublicHolidays(config.marketing.holidaysCountry));
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
   * Asked right before a message leaves: null when it may go now, else the next opening of the window
   * (a marketing message claimed after closing time, on a closed day or a public holiday).
   */
  heldUntil(category: string | null | undefined): Date | null {
    if (category !== 'marketing') return null;
    const now = this.clock.now();
    const opening = this.window.nextOpening(now);
    return opening.getTime() === now.getTime() ? null : opening;
  }

  isOpen(at: Date): boolean {
    return this.window.isOpen(at);
  }
}
