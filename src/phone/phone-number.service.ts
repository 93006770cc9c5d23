import { Inject, Injectable, Optional } from '@nestjs/common';
import { InputError, type InputAdvice } from '../common/errors/mapped-error.js';
// The `/max` metadata build: the default (`min`) build only checks lengths, so it cannot tell a mobile
// from a landline nor reject numbers in unallocated ranges.
import {
  getCountryCallingCode,
  isSupportedCountry,
  parsePhoneNumberWithError,
  ParseError,
  validatePhoneNumberLength,
  type CountryCode,
  type PhoneNumber,
} from 'libphonenumber-js/max';

/** Injection token of the country assumed for numbers written in national format (ISO 3166-1 alpha-2, e.g. 'FR'). */
/** How many recent format results are kept (oldest dropped first). */
const RECENT_RESULTS = 5000;

export const DEFAULT_PHONE_COUNTRY = Symbol('DEFAULT_PHONE_COUNTRY');
/** The countries SMS may go to (SMS_ALLOWED_COUNTRIES), or null / empty for every one. */
export const SMS_ALLOWED_COUNTRIES = Symbol('SMS_ALLOWED_COUNTRIES');

/**
 * Twilio's documented magic test numbers (https://www.twilio.com/docs/iam/test-credentials): with test
 * credentials, Twilio answers sends to these with fixed outcomes (invalid number, unroutable, blocked, ...),
 * and the test suite uses them against the Twilio stand-in. Depending on the metadata version, libphonenumber
 * may call them invalid US numbers (area code 500), so they are always accepted. Nothing else is special-cased.
 */
export const TWILIO_MAGIC_TEST_NUMBERS: ReadonlySet<string> = new Set(
  Array.from({ length: 10 }, (_, i) => `+1500555${String(i + 1).padStart(4, '0')}`),
);

/** Why a number was refused. The messages are English; the 400 adds plain words in the caller's language (ADVICE). */
export type PhoneNumberErrorCode =
  | 'NOT_A_NUMBER'
  | 'INVALID_COUNTRY'
  | 'TOO_SHORT'
  | 'TOO_LONG'
  | 'INVALID_LENGTH'
  | 'INVALID_NUMBER'
  | 'NOT_SMS_CAPABLE'
  | 'COUNTRY_NOT_ALLOWED';

export interface PhoneNumberProblem {
  code: PhoneNumberErrorCode;
  message: string;
}

export interface PhoneFormatResult {
  /** The input as given (empty string when it was not a string). */
  input: string;
  /** E.164 (`+33612345678`); null unless valid. */
  e164: string | null;
  valid: boolean;
  /** ISO 3166-1 alpha-2 country of the number; null unless valid (or when the calling code is shared, e.g. +800). */
  country: string | null;
  /** libphonenumber's getType(): MOBILE, FIXED_LINE, FIXED_LINE_OR_MOBILE, VOIP, ...; null unless known. */
  type: string | null;
  /** National format (`06 12 34 56 78`); null unless valid. */
  national: string | null;
  /** International format (`+33 6 12 34 56 78`); null unless valid. */
  international: string | null;
  /** Present exactly when `valid` is false. */
  reason?: PhoneNumberProblem;
}

const MESSAGES: Record<PhoneNumberErrorCode, string> = {
  NOT_A_NUMBER: 'The input is not a phone number.',
  INVALID_COUNTRY: 'The country could not be determined: unknown country calling code or country.',
  TOO_SHORT: 'The number is too short.',
  TOO_LONG: 'The number is too long.',
  INVALID_LENGTH: 'The number has an invalid length for its country.',
  INVALID_NUMBER: 'The number does not exist in its country numbering plan.',
  NOT_SMS_CAPABLE: 'The number is a landline (fixed line): it cannot receive SMS.',
  COUNTRY_NOT_ALLOWED: "SMS are not sent to this number's country (SMS_ALLOWED_COUNTRIES).",
};

const CHECK_FORMAT = {
  fr: 'Vérifiez le format du numéro (par exemple 06 12 34 56 78 ou +33612345678).',
  en: 'Check the number format (for example 06 12 34 56 78 or +33612345678).',
};

/**
 * A refused number in plain words, in the caller's language (the 400's `explanation` and `hint`): what Twilio's
 * 21211 says of a number it refuses, said before Twilio is called, with the problem found.
 */
const ADVICE: Record<PhoneNumberErrorCode, InputAdvice> = {
  NOT_A_NUMBER: {
    fr: { explanation: "Le numéro de téléphone fourni est invalide : ce n'est pas un numéro.", hint: CHECK_FORMAT.fr },
    en: { explanation: 'The phone number given is invalid: it is not a number.', hint: CHECK_FORMAT.en },
  },
  INVALID_COUNTRY: {
    fr: {
      explanation: 'Le numéro de téléphone fourni est invalide : son indicatif de pays est absent ou inconnu.',
      hint: 'Écrivez un numéro étranger avec son indicatif (par exemple +32 470 12 34 56).',
    },
    en: {
      explanation: 'The phone number given is invalid: its country calling code is missing or unknown.',
      hint: 'Write a foreign number with its calling code (for example +32 470 12 34 56).',
    },
  },
  TOO_SHORT: {
    fr: { explanation: 'Le numéro de téléphone fourni est invalide : il est trop court.', hint: CHECK_FORMAT.fr },
    en: { explanation: 'The phone number given is invalid: it is too short.', hint: CHECK_FORMAT.en },
  },
  TOO_LONG: {
    fr: { explanation: 'Le numéro de téléphone fourni est invalide : il est trop long.', hint: CHECK_FORMAT.fr },
    en: { explanation: 'The phone number given is invalid: it is too long.', hint: CHECK_FORMAT.en },
  },
  INVALID_LENGTH: {
    fr: { explanation: 'Le numéro de téléphone fourni est invalide : sa longueur ne convient pas à son pays.', hint: CHECK_FORMAT.fr },
    en: { explanation: 'The phone number given is invalid: its length does not fit its country.', hint: CHECK_FORMAT.en },
  },
  INVALID_NUMBER: {
    fr: { explanation: "Le numéro de téléphone fourni est invalide : il n'existe pas dans son pays.", hint: CHECK_FORMAT.fr },
    en: { explanation: 'The phone number given is invalid: no such number exists in its country.', hint: CHECK_FORMAT.en },
  },
  NOT_SMS_CAPABLE: {
    fr: {
      explanation: 'Ce numéro ne peut pas recevoir de SMS (ligne fixe, numéro gratuit, surtaxé ou spécial).',
      hint: 'Utilisez un numéro de mobile.',
    },
    en: {
      explanation: 'This number cannot receive SMS (a landline, toll-free, premium-rate or special number).',
      hint: 'Use a mobile number.',
    },
  },
  COUNTRY_NOT_ALLOWED: {
    fr: {
      explanation: "Ce service n'envoie pas de SMS vers le pays de ce numéro (SMS_ALLOWED_COUNTRIES).",
      hint: "Vérifiez l'indicatif du numéro ; si ce pays doit être servi, demandez à l'exploitant de l'ajouter à SMS_ALLOWED_COUNTRIES.",
    },
    en: {
      explanation: "This service does not send SMS to this number's country (SMS_ALLOWED_COUNTRIES).",
      hint: "Check the number's country code; if that country must be served, ask the operator to add it to SMS_ALLOWED_COUNTRIES.",
    },
  },
};

/** libphonenumber's types of numbers that cannot receive an SMS, and why (FIXED_LINE_OR_MOBILE is kept). */
const NOT_SMS_TYPES: Readonly<Record<string, string>> = {
  FIXED_LINE: MESSAGES.NOT_SMS_CAPABLE,
  TOLL_FREE: 'The number is toll-free (such as 0800 …): it cannot receive SMS.',
  PREMIUM_RATE: 'The number is premium-rate (such as 089x …): it cannot receive SMS.',
  SHARED_COST: 'The number is shared-cost (such as 081x …): it cannot receive SMS.',
  UAN: 'The number is a universal access number: it cannot receive SMS.',
  VOICEMAIL: 'The number is a voicemail access number: it cannot receive SMS.',
};

/** Why a valid number of this type cannot receive SMS, or undefined when it can. */
function notSmsCapable(type: string | null | undefined): PhoneNumberProblem | undefined {
  const message = type ? NOT_SMS_TYPES[type] : undefined;
  return message ? problem('NOT_SMS_CAPABLE', message) : undefined;
}

export interface NormalizeOptions {
  /** The request field holding the number, named in the error (default `phone`). */
  field?: string;
  /** Country of a number written in national format (default: DEFAULT_COUNTRY). */
  country?: string;
  /** The number will receive SMS: a fixed line (libphonenumber's FIXED_LINE) is refused; FIXED_LINE_OR_MOBILE is kept. */
  sms?: boolean;
}

const PARSE_ERROR_CODES = new Set<string>(['NOT_A_NUMBER', 'INVALID_COUNTRY', 'TOO_SHORT', 'TOO_LONG', 'INVALID_LENGTH']);

/**
 * French overseas departments and collectivities numbered in the French national form (0 + 9 digits, national
 * prefix 0 in libphonenumber's metadata): from metropolitan France one dials `0692 12 34 56` for a Réunion mobile,
 * yet libphonenumber reads that number as an invalid +33 one. Réunion and Mayotte share +262; Guadeloupe,
 * Saint-Barthélemy and Saint-Martin share +590 (libphonenumber then reports the region the number belongs to where
 * the ranges tell them apart, and GP for the mobile ranges the three share).
 * Saint-Pierre-et-Miquelon (+508): only its 9-digit numbers have that form; its 6-digit ones need +508.
 */
export const FRENCH_NATIONAL_FORM_REGIONS: readonly CountryCode[] = ['RE', 'YT', 'GP', 'BL', 'MF', 'GF', 'MQ', 'PM'];

/** One region per calling code: regions sharing one read the same digits as the same number, so one parse is enough. */
const OVERSEAS_PARSE_REGIONS: readonly CountryCode[] = FRENCH_NATIONAL_FORM_REGIONS.filter(
  (region, index, all) => all.findIndex((other) => getCountryCallingCode(other) === getCountryCallingCode(region)) === index,
);

/** Thrown by {@link PhoneNumberService.normalize}: a 400 naming the field, from any controller. */
export class InvalidPhoneNumberError extends InputError {
  override readonly name = 'InvalidPhoneNumberError';

  constructor(
    readonly input: string,
    /** Also in the 400's body (`code`), as a bulk's invalid entries carry it. */
    override readonly code: PhoneNumberErrorCode,
    /** Why, without the field: `The number is too short.` */
    readonly reason: string = MESSAGES[code],
    field = 'phone',
  ) {
    super(field, describePhoneProblem(field, reason), undefined, code, ADVICE[code]);
  }
}

/** A number's problem as a request error says it: `to: The number is too short.` */
export function describePhoneProblem(field: string, reason: string = MESSAGES.INVALID_NUMBER): string {
  return `${field}: ${reason}`;
}

function problem(code: PhoneNumberErrorCode, message: string = MESSAGES[code]): PhoneNumberProblem {
  return { code, message };
}

/**
 * Phone number parsing, validation and formatting. Numbers written in national format (`06 12 34 56 78`)
 * are read as numbers of the given country, else of the default country; international ones (`+33…`,
 * `0033…` from France) carry their own country.
 */
@Injectable()
export class PhoneNumberService {
  private readonly defaultCountry: CountryCode;
  /**
   * SMS_ALLOWED_COUNTRIES: a number that will receive SMS must be of one of them, by its own territory as libphonenumber
   * reads it (`0692…` is RE; `+590 690…` mobiles are GP for Saint-Barthélemy and Saint-Martin too; `+44 7911…` is GG);
   * null: every country. Against SMS pumping (a stolen token or a form sending to premium ranges abroad).
   */
  private readonly allowedCountries: ReadonlySet<string> | null;

  constructor(
    @Inject(DEFAULT_PHONE_COUNTRY) defaultCountry: string,
    @Optional() @Inject(SMS_ALLOWED_COUNTRIES) allowedCountries?: readonly string[] | null,
  ) {
    this.allowedCountries = allowedCountries?.length ? new Set(allowedCountries) : null;
    const country = typeof defaultCountry === 'string' ? defaultCountry.trim().toUpperCase() : '';
    if (!isSupportedCountry(country)) {
      throw new Error(
        `PhoneNumberService: unsupported default country "${String(defaultCountry)}" (expected an ISO 3166-1 alpha-2 code such as FR)`,
      );
    }
    this.defaultCountry = country;
  }

  /** Parses and describes `input`; never throws. */
  format(input: string, country?: string): PhoneFormatResult {
    // Parsing with full metadata costs tens of microseconds; the same few numbers come back often
    // (a clinic's clients, bulk lists), so recent results are kept.
    const key = typeof input === 'string' ? `${country ?? ''}|${input}` : null;
    const cached = key === null ? undefined : this.recent.get(key);
    if (cached) return { ...cached };
    const result = this.parse(input, country);
    if (key !== null) {
      if (this.recent.size >= RECENT_RESULTS) this.recent.delete(this.recent.keys().next().value!);
      this.recent.set(key, result);
    }
    return { ...result };
  }

  private readonly recent = new Map<string, PhoneFormatResult>();

  private parse(input: string, country?: string): PhoneFormatResult {
    const text = typeof input === 'string' ? input : '';
    const checked = this.check(input, country);
    if ('reason' in checked) {
      return {
        input: text,
        e164: null,
        valid: false,
        country: null,
        type: null,
        national: null,
        international: null,
        reason: checked.reason,
      };
    }
    const { parsed, type } = checked;
    return {
      input: text,
      e164: parsed.number,
      valid: true,
      country: parsed.country ?? null,
      type: type ?? null,
      national: parsed.formatNational(),
      international: parsed.formatInternational(),
    };
  }

  /** Parsing and validation without the display formats: the parsed number and its type, or why it is refused. */
  private check(input: string, country?: string): { parsed: PhoneNumber; type: string | undefined } | { reason: PhoneNumberProblem } {
    if (typeof input !== 'string') return { reason: problem('NOT_A_NUMBER') };
    // Invisible characters a pasted number brings along are not part of it: the direction marks a contacts app wraps it
    // in (U+202A…U+202C), zero-width spaces; any space (a tab from a spreadsheet, French typography's narrow no-break
    // space U+202F) is a space.
    const trimmed = input
      .replace(/\p{Cf}+/gu, '')
      .replace(/\s+/gu, ' ')
      .trim();
    if (trimmed === '') return { reason: problem('NOT_A_NUMBER') };

    let defaultCountry = this.defaultCountry;
    if (country !== undefined && country !== null && country !== '') {
      const requested = typeof country === 'string' ? country.trim().toUpperCase() : '';
      if (!isSupportedCountry(requested)) {
        return {
          reason: problem('INVALID_COUNTRY', `Unknown country "${String(country)}" (expected an ISO 3166-1 alpha-2 code such as FR).`),
        };
      }
      defaultCountry = requested;
    }

    let parsed: PhoneNumber;
    try {
      // extract: false — the whole input must be a phone number ("0612345678a" is refused, not salvaged).
      parsed = parsePhoneNumberWithError(trimmed, { defaultCountry, extract: false });
    } catch (error) {
      if (error instanceof ParseError && PARSE_ERROR_CODES.has(error.message)) {
        return { reason: problem(error.message as PhoneNumberErrorCode) };
      }
      return { reason: problem('NOT_A_NUMBER') };
    }

    // With the full metadata, isValid() is getType() !== undefined (both match the same patterns): a number with
    // a type is valid, so the patterns are matched once; isValid() decides only for a number without one.
    const type = parsed.getType();
    if (type === undefined && !parsed.isValid() && !TWILIO_MAGIC_TEST_NUMBERS.has(parsed.number)) {
      const length = this.lengthProblem(trimmed, defaultCountry);
      // The French national form also numbers the overseas regions (0692… is Réunion): see FRENCH_NATIONAL_FORM_REGIONS.
      const overseas = length === undefined && defaultCountry === 'FR' ? this.frenchOverseas(trimmed, parsed) : undefined;
      return overseas ?? { reason: problem(length ?? 'INVALID_NUMBER') };
    }
    return { parsed, type };
  }

  /**
   * A number written in the French national form that is not a valid +33 number, read as a number of a French
   * overseas region instead (`0692 12 34 56` → `+262692123456`), the first region where it is valid; undefined when
   * none. Only the same national digits under another calling code count: `+33…` or `0033…` stay +33 numbers.
   */
  private frenchOverseas(input: string, french: PhoneNumber): { parsed: PhoneNumber; type: string | undefined } | undefined {
    for (const region of OVERSEAS_PARSE_REGIONS) {
      let parsed: PhoneNumber;
      try {
        parsed = parsePhoneNumberWithError(input, { defaultCountry: region, extract: false });
      } catch {
        continue;
      }
      if (parsed.countryCallingCode === french.countryCallingCode || parsed.nationalNumber !== french.nationalNumber) continue;
      const type = parsed.getType();
      if (type !== undefined || parsed.isValid()) return { parsed, type };
    }
    return undefined;
  }

  /**
   * The E.164 form of a number that will receive SMS, or why not, exactly as {@link formatRecipient} decides
   * (a landline, toll-free or premium-rate number is `NOT_SMS_CAPABLE`), without the display formats: a bulk list needs nothing else, and
   * formatting cost more than parsing. Recent results of {@link format} are used; nothing is added to them.
   */
  recipientNumber(input: string): { e164: string; reason?: undefined } | { e164: null; reason: PhoneNumberProblem } {
    const cached = typeof input === 'string' ? this.recent.get(`|${input}`) : undefined;
    if (cached) {
      if (!cached.valid || cached.e164 === null) return { e164: null, reason: cached.reason ?? problem('INVALID_NUMBER') };
      const refused = this.smsRefusal(cached.type, cached.country);
      return refused ? { e164: null, reason: refused } : { e164: cached.e164 };
    }
    const checked = this.check(input);
    if ('reason' in checked) return { e164: null, reason: checked.reason };
    const refused = this.smsRefusal(checked.type, checked.parsed.country ?? null);
    return refused ? { e164: null, reason: refused } : { e164: checked.parsed.number };
  }

  /**
   * Like {@link format}, for a number that will receive SMS: a valid fixed line (or toll-free, premium-rate,
   * shared-cost, UAN or voicemail number) comes back invalid
   * with `NOT_SMS_CAPABLE` (Twilio would only fail it with 21614 after storing and journaling), and a number of a
   * country not in SMS_ALLOWED_COUNTRIES with `COUNTRY_NOT_ALLOWED`.
   */
  formatRecipient(input: string, country?: string): PhoneFormatResult {
    const result = this.format(input, country);
    const refused = result.valid ? this.smsRefusal(result.type, result.country) : undefined;
    return refused ? { ...result, e164: null, valid: false, reason: refused } : result;
  }

  /**
   * Why SMS_ALLOWED_COUNTRIES refuses a number stored earlier (E.164), as it stands now: the list may have been set or
   * narrowed since the message was accepted (SMS pumping under way when the operator sets it). Undefined when it may
   * go, when there is no list, or when the number does not parse any more (it was accepted: not this rule's to judge).
   */
  countryRefusal(e164: string): PhoneNumberProblem | undefined {
    if (!this.allowedCountries) return undefined;
    const result = this.format(e164);
    return result.valid ? this.smsRefusal(null, result.country) : undefined;
  }

  /** Why a valid number cannot receive SMS from this service: its type (a landline…), or its country not allowed. */
  private smsRefusal(type: string | null | undefined, country: string | null): PhoneNumberProblem | undefined {
    const refused = notSmsCapable(type);
    if (refused || !this.allowedCountries || (country !== null && this.allowedCountries.has(country))) return refused;
    return problem(
      'COUNTRY_NOT_ALLOWED',
      `The number is of ${country ?? 'no country'}, and SMS go only to ${[...this.allowedCountries].join(', ')} (SMS_ALLOWED_COUNTRIES).`,
    );
  }

  /**
   * The number in E.164, ready for Twilio; throws {@link InvalidPhoneNumberError} (400 naming
   * `options.field`) when it is not valid, or is a landline and `options.sms` is set. Every route that
   * takes a number goes through this.
   */
  normalize(input: string, options: NormalizeOptions = {}): string {
    const result = options.sms ? this.formatRecipient(input, options.country) : this.format(input, options.country);
    if (!result.valid || result.e164 === null) {
      const reason = result.reason ?? problem('INVALID_NUMBER');
      throw new InvalidPhoneNumberError(result.input, reason.code, reason.message, options.field);
    }
    return result.e164;
  }

  /** The length verdict of libphonenumber for a parsed but invalid number, if it has one. */
  private lengthProblem(input: string, country: CountryCode): PhoneNumberErrorCode | undefined {
    try {
      const verdict = validatePhoneNumberLength(input, country);
      return verdict && PARSE_ERROR_CODES.has(verdict) ? (verdict as PhoneNumberErrorCode) : undefined;
    } catch {
      return undefined;
    }
  }
}
