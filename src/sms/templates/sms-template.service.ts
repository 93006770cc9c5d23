import { Inject, Injectable } from '@nestjs/common';
import { parseIsoInstant } from '../../common/dto/iso-date.js';
import { InputError } from '../../common/errors/mapped-error.js';
import { quoteInput } from '../../common/log-safe.js';
import { isRenderableNotificationType, NOTIFICATION_TYPES, type NotificationType } from './notification-types.js';
import {
  DEFAULT_LOCALE,
  loadTemplateCatalogs,
  SUPPORTED_LOCALES,
  type TemplateCatalog,
  type TemplateFieldSpec,
  type TemplateLocale,
  type TemplateSpec,
} from './template-catalog.js';
import { renderTemplate } from './template-renderer.js';
import { inlineText, placeholderProblem } from '../../common/inline-text.js';

/** Injection token of the IANA time zone in which `startsAt` is written (e.g. 'Europe/Paris'). */
export const DEFAULT_TIME_ZONE = Symbol('DEFAULT_TIME_ZONE');

/** A data key named as its own field in a refusal (`data.locaton`); any other is quoted in the message. */
const UNDECLARED_KEY = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;

/** The field that, when given, supplies `date` and `time`. */
const STARTS_AT = 'startsAt';

export type TemplateDataProblem =
  | 'unknown_type'
  | 'unsupported_locale'
  | 'not_an_object'
  | 'unknown_field'
  | 'missing'
  | 'empty'
  | 'not_text'
  | 'placeholder'
  | 'invalid_date'
  | 'conflicting';

/** The data (or type, or locale) given to {@link SmsTemplateService.render} cannot make an SMS. */
export class TemplateDataError extends InputError {
  override readonly name = 'TemplateDataError';

  constructor(
    /** The offending input: a data field name, or `type`, `locale`, `data`. */
    field: string,
    readonly problem: TemplateDataProblem,
    message: string,
    /** The accepted values, for `unknown_type` (the public types) and `unsupported_locale`. */
    allowed?: readonly string[],
  ) {
    super(field, message, allowed);
  }
}

export interface TemplateDescription {
  type: NotificationType;
  description: string;
  fields: TemplateFieldSpec[];
  example: { data: Record<string, string>; text: string };
}

/** How each locale writes an instant: French `lundi 15 janvier 2024` / `14:30`, English `Monday, January 15, 2024` / `2:30 PM`. */
const MOMENT_FORMATS: Record<TemplateLocale, { tag: string; date: Intl.DateTimeFormatOptions; time: Intl.DateTimeFormatOptions }> = {
  fr: {
    tag: 'fr-FR',
    date: { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' },
    time: { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' },
  },
  en: {
    tag: 'en-US',
    date: { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' },
    time: { hour: 'numeric', minute: '2-digit', hour12: true },
  },
};

/** Intl may separate `2:30` and `PM` with a narrow no-break space, which is not GSM-7: plain spaces only. */
const toPlainSpaces = (text: string): string => text.replace(/[\s\u00a0\u202f]+/g, ' ');

/**
 * Renders the SMS texts of the notification types from the per-locale template files, after checking the data.
 * Locales: 'fr' (default) and 'en'; regional tags ('fr-FR', 'en-GB') use their base language.
 */
@Injectable()
export class SmsTemplateService {
  private readonly catalogs: Record<TemplateLocale, TemplateCatalog>;

  constructor(@Inject(DEFAULT_TIME_ZONE) private readonly defaultTimeZone: string) {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: defaultTimeZone });
    } catch {
      throw new Error(`SmsTemplateService: unknown time zone "${String(defaultTimeZone)}" (expected an IANA name such as Europe/Paris)`);
    }
    this.catalogs = loadTemplateCatalogs();
  }

  supportedLocales(): TemplateLocale[] {
    return [...SUPPORTED_LOCALES];
  }

  /** The public types, with their fields and an example rendered from the fields' examples. */
  list(locale?: string): TemplateDescription[] {
    const resolved = this.resolveLocale(locale);
    return NOTIFICATION_TYPES.map((type) => {
      const spec = this.catalogs[resolved][type];
      // A field replacing others (startsAt) is left out: the example shows the text fields it would replace.
      const replacing = new Set(spec.fields.flatMap((field) => (field.requiredUnless ? [field.requiredUnless] : [])));
      const data = Object.fromEntries(
        spec.fields.filter((field) => !replacing.has(field.name)).map((field) => [field.name, field.example]),
      );
      return {
        type,
        description: spec.description,
        fields: spec.fields.map((field) => ({ ...field })),
        example: { data, text: this.render(type, data, resolved) },
      };
    });
  }

  /**
   * The SMS text of `type` for `data`, in `locale` ('fr' by default). Values are trimmed; numbers are taken
   * as text; fields the type does not declare are ignored here (other modules may pass a record's fields; the
   * HTTP route refuses them first, {@link refuseUndeclaredFields}). For appointment types, `startsAt` (ISO 8601 with
   * an offset) takes precedence over `date` and `time`, written in the locale and in `timeZone` (the recipient's:
   * readingTimeZone; DEFAULT_TIMEZONE by default).
   * Throws {@link TemplateDataError}.
   */
  render(type: string, data: Record<string, unknown>, locale?: string, timeZone: string = this.defaultTimeZone): string {
    const resolved = this.resolveLocale(locale);
    if (!isRenderableNotificationType(type)) {
      throw new TemplateDataError(
        'type',
        'unknown_type',
        `Unknown notification type ${quoteInput(type)}; expected one of: ${NOTIFICATION_TYPES.join(', ')}`,
        [...NOTIFICATION_TYPES],
      );
    }
    if (typeof data !== 'object' || data === null || Array.isArray(data)) {
      throw new TemplateDataError('data', 'not_an_object', 'The notification data must be an object of field values');
    }
    const spec = this.catalogs[resolved][type];
    const values = this.collectValues(spec, data, resolved, timeZone);
    this.checkRequired(spec, values, data);
    return renderTemplate(spec.template, values).trim();
  }

  /**
   * For data written by a client (`POST /api/sms/notification`): refuses the first key that `type` does not declare,
   * naming it and the type's fields, so that a misspelt optional field (`locaton`) is a 400 instead of an SMS sent
   * without it; and `startsAt` given with `date` or `time`. An unknown type or data that is not an object is left to render(), which says so.
   */
  refuseUndeclaredFields(type: string, data: unknown): void {
    if (!isRenderableNotificationType(type) || typeof data !== 'object' || data === null || Array.isArray(data)) return;
    const names = this.catalogs[DEFAULT_LOCALE][type].fields.map((field) => field.name);
    const undeclared = Object.keys(data).find((key) => !names.includes(key));
    if (undeclared === undefined) {
      this.refuseTwoWaysOfTime(names, data as Record<string, unknown>);
      return;
    }
    // A key that could not be a field name (odd characters, very long) is named through `data`, quoted.
    const nameable = UNDECLARED_KEY.test(undeclared);
    throw new TemplateDataError(
      nameable ? `data.${undeclared}` : 'data',
      'unknown_field',
      `${nameable ? `data.${undeclared}` : `data has ${quoteInput(undeclared)}, which`} is not a field of ${type}; its fields: ${names.join(', ')}`,
    );
  }

  /**
   * `startsAt` and `date`/`time` both given could disagree (a date for one day, startsAt for another): which one the
   * client would get is a guess, so a client is told (render() alone lets startsAt win, for other modules' records).
   */
  private refuseTwoWaysOfTime(names: readonly string[], data: Record<string, unknown>): void {
    const given = (name: string) =>
      data[name] !== undefined && data[name] !== null && !(typeof data[name] === 'string' && !data[name].trim());
    if (!names.includes(STARTS_AT) || !given(STARTS_AT)) return;
    const alsoGiven = ['date', 'time'].find(given);
    if (alsoGiven)
      throw new TemplateDataError(
        `data.${alsoGiven}`,
        'conflicting',
        `data.${alsoGiven} and data.${STARTS_AT} were both given; give either ${STARTS_AT} or date and time as text, not both`,
      );
  }

  /** The supported locale a caller's `locale` names (`en-GB` → `en`; none → French), or a TemplateDataError. */
  resolveLocale(locale: string | undefined): TemplateLocale {
    if (locale === undefined || locale === null || locale === '') return DEFAULT_LOCALE;
    const base = typeof locale === 'string' ? locale.trim().toLowerCase().split(/[-_]/)[0] : '';
    const found = SUPPORTED_LOCALES.find((supported) => supported === base);
    if (!found) {
      throw new TemplateDataError(
        'locale',
        'unsupported_locale',
        `Unsupported locale ${quoteInput(locale)}; supported: ${SUPPORTED_LOCALES.join(', ')}`,
        [...SUPPORTED_LOCALES],
      );
    }
    return found;
  }

  /** Declared fields as text written inline (inlineText; absent when missing, null or blank); `date`/`time` from `startsAt`. */
  private collectValues(
    spec: TemplateSpec,
    data: Record<string, unknown>,
    locale: TemplateLocale,
    timeZone: string = this.defaultTimeZone,
  ): Record<string, string | undefined> {
    const values: Record<string, string | undefined> = {};
    for (const field of spec.fields) {
      const raw = data[field.name];
      if (field.name === STARTS_AT && raw instanceof Date) {
        // Accepted from other modules holding a Date; an invalid Date is refused like an invalid text below.
        values[field.name] = Number.isNaN(raw.getTime()) ? String(raw) : raw.toISOString();
      } else if (raw === undefined || raw === null) {
        values[field.name] = undefined;
      } else if (typeof raw === 'string') {
        // Inserted as written, never re-read: a placeholder left unfilled upstream would reach the client as is.
        const placeholder = placeholderProblem(raw);
        if (placeholder) throw new TemplateDataError(field.name, 'placeholder', `${field.name} ${placeholder}`);
        values[field.name] = inlineText(raw) || undefined;
      } else if (typeof raw === 'number' && Number.isFinite(raw)) {
        values[field.name] = String(raw);
      } else {
        throw new TemplateDataError(field.name, 'not_text', `${field.name} must be text`);
      }
    }

    const startsAt = values[STARTS_AT];
    if (startsAt !== undefined && spec.fields.some((field) => field.name === STARTS_AT)) {
      const instant = parseIsoInstant(startsAt);
      if (!instant) {
        throw new TemplateDataError(
          STARTS_AT,
          'invalid_date',
          `${STARTS_AT} must be an ISO 8601 date and time with an offset or Z, such as 2024-01-15T14:30:00+01:00`,
        );
      }
      values.date = this.formatDate(instant, locale, timeZone);
      values.time = this.formatTime(instant, locale, timeZone);
    }
    return values;
  }

  private checkRequired(spec: TemplateSpec, values: Record<string, string | undefined>, data: Record<string, unknown>): void {
    for (const field of spec.fields) {
      if (!field.required || values[field.name] !== undefined) continue;
      const given = data[field.name] !== undefined && data[field.name] !== null;
      if (field.requiredUnless !== undefined) {
        // Name every way to satisfy the requirement: the fields sharing this alternative, or the alternative.
        const group = spec.fields.filter((other) => other.requiredUnless === field.requiredUnless).map((other) => other.name);
        const missing = group.filter((name) => values[name] === undefined);
        throw new TemplateDataError(
          field.name,
          given ? 'empty' : 'missing',
          `${joinNames(group)} ${group.length > 1 ? 'are' : 'is'} required (as text), or ${field.requiredUnless}; missing: ${joinNames(missing)}`,
        );
      }
      throw new TemplateDataError(
        field.name,
        given ? 'empty' : 'missing',
        given ? `${field.name} must not be empty` : `${field.name} is required`,
      );
    }
  }

  private formatDate(instant: Date, locale: TemplateLocale, timeZone: string): string {
    const { tag, date } = MOMENT_FORMATS[locale];
    const format = new Intl.DateTimeFormat(tag, { ...date, timeZone });
    if (locale !== 'fr') return toPlainSpaces(format.format(instant));
    const parts = Object.fromEntries(format.formatToParts(instant).map((part) => [part.type, part.value]));
    // French writes the first day of a month "1er". "août" is written "aout" (spelling allowed since the 1990
    // reform): û is not GSM-7 and would turn every August SMS into UCS-2, i.e. two or three billed segments.
    const day = parts.day === '1' ? '1er' : parts.day;
    const month = parts.month === 'août' ? 'aout' : parts.month;
    return `${parts.weekday} ${day} ${month} ${parts.year}`;
  }

  private formatTime(instant: Date, locale: TemplateLocale, timeZone: string): string {
    const { tag, time } = MOMENT_FORMATS[locale];
    return toPlainSpaces(new Intl.DateTimeFormat(tag, { ...time, timeZone }).format(instant));
  }
}

function joinNames(names: string[]): string {
  return names.length <= 1 ? (names[0] ?? '') : `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
}
