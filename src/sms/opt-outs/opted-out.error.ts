import { MappedError, type AnswerContext, type HttpAnswer } from '../../common/errors/mapped-error.js';
import { preferredLanguage } from '../../common/i18n/accept-language.js';
import type { SmsOptOut } from './sms-opt-out.entity.js';

/** The code stored on a message not sent because its number opted out. */
export const OPTED_OUT = 'OPTED_OUT';

const SOURCES = {
  fr: { keyword: 'par SMS (STOP)', manual: 'enregistré par l’équipe', twilio_21610: 'chez Twilio (21610)' },
  en: { keyword: 'by SMS (STOP)', manual: 'recorded by staff', twilio_21610: 'at Twilio (21610)' },
} as const;

/**
 * Why a message to an opted-out number was not sent, in plain words (stored with the skipped message). With a time
 * zone, the date as a person reads it there (`27 novembre 2026 à 08:45`); without, the ISO instant (stored text).
 */
export function describeOptOut(
  optOut: Pick<SmsOptOut, 'phone' | 'optedOutAt' | 'source'>,
  lang: 'fr' | 'en' = 'en',
  timeZone?: string,
): string {
  const source = SOURCES[lang][optOut.source] ?? optOut.source;
  const at = timeZone
    ? new Intl.DateTimeFormat(lang === 'fr' ? 'fr-FR' : 'en-GB', { dateStyle: 'long', timeStyle: 'short', timeZone }).format(
        optOut.optedOutAt,
      )
    : optOut.optedOutAt.toISOString();
  return lang === 'fr'
    ? `${optOut.phone} s'est désabonné le ${at} (${source}) : aucun SMS ne lui est envoyé.`
    : `${optOut.phone} opted out on ${at} (${source}): no SMS is sent to it.`;
}

/**
 * A send to a number on the opt-out list: 409 naming the opt-out and its date. The attempt is stored
 * as `skipped` under `messageId` (visible with the appointment or the dossier it was about).
 */
export class SmsOptedOutError extends MappedError {
  constructor(
    readonly optOut: Pick<SmsOptOut, 'phone' | 'optedOutAt' | 'source'>,
    readonly messageId: string | null,
    /** The zone the answer's sentence writes the date in (DEFAULT_TIMEZONE); `optedOutAt` stays the ISO instant. */
    readonly timeZone?: string,
  ) {
    super(describeOptOut(optOut));
    this.name = 'SmsOptedOutError';
  }

  toHttp(context: AnswerContext): HttpAnswer {
    return {
      status: 409,
      body: {
        message: describeOptOut(this.optOut, preferredLanguage(context.acceptLanguage, ['fr', 'en'] as const, 'fr'), this.timeZone),
        code: OPTED_OUT,
        to: this.optOut.phone,
        optedOutAt: this.optOut.optedOutAt.toISOString(),
        optOutSource: this.optOut.source,
        messageId: this.messageId,
      },
    };
  }
}
