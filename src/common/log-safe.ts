import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
/** C0 and C1 controls, DEL, and the Unicode line and paragraph separators: all can break or fake a log line. */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

const escapeChar = (char: string): string => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`;

/**
 * Text for one log line: control characters, line separators and unpaired surrogates escaped as
 * `\uXXXX`, so a caller's input can never end the line or forge another one.
 */
export function safeLogText(value: unknown, maxLength = 2000): string {
  const text = typeof value === 'string' ? value : String(value);
  const clipped = text.length > maxLength ? `${text.slice(0, maxLength)}…` : text;
  return clipped.replace(CONTROL, escapeChar).replace(LONE_SURROGATE, escapeChar);
}

/** A caller's value inside a message (answer or log): quoted, escaped like JSON, and kept short. */
export function quoteInput(value: unknown, maxLength = 60): string {
  const text = typeof value === 'string' ? value : String(value);
  return safeLogText(JSON.stringify(text.length > maxLength ? `${text.slice(0, maxLength)}…` : text));
}

/** An error for the log: its name and escaped message, then only its stack frames (`at …` lines). */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return safeLogText(error);
  const frames = (error.stack ?? '')
    .split('\n')
    .filter((line) => /^\s+at /.test(line))
    .map((line) => safeLogText(line));
  return [`${safeLogText(error.name)}: ${safeLogText(error.message)}`, ...frames].join('\n');
}

/** Fewest digits a run of text needs to be taken for a phone number (the shortest national numbers have 9). */
const MIN_PHONE_DIGITS = 9;
/**
 * Fewest digits after a `+` for a run to be an international number when libphonenumber finds it possible: Niue's and
 * Tokelau's (+683 4xxx, +690 4xxx) have 7 in all, the Falklands' and St Helena's 8 (+500 5xxxx, +290 5xxxx).
 */
const MIN_INTERNATIONAL_DIGITS = 7;
/** E.164's longest number: more digits written without any separator are an id, not a phone number. */
const MAX_PHONE_DIGITS = 15;

// What numbers are written with. Digits: any Unicode decimal digit (`\p{Nd}`: ASCII, full-width `０６…`,
// Arabic-Indic `٠٦…`…), as libphonenumber reads them all. Separators: "tight" ones join the parts of one
// token (`.`, `_`, dashes, invisible format characters such as a zero-width space); "loose" ones also
// separate words (spaces of any kind, no-break ones included, `/`, brackets), and so do escapes: a
// percent-escape (`%C2%A0` in a raw URL) or the `\u000a` written by safeLogText. An escape is one token:
// its hex digits are never counted or masked as digits.
const TIGHT = String.raw`._\p{Pd}\p{Cf}\u2212\uFF0E\uFF3F`;
const LOOSE = String.raw`\t\p{Zs}/()\uFF08\uFF09\uFF0F`;
const ESCAPE = String.raw`%[0-9A-Fa-f]{2}|\\u[0-9A-Fa-f]{4}`;
const SEPARATOR = String.raw`(?:[${TIGHT}${LOOSE}]|${ESCAPE})`;

const WORD = String.raw`[\p{L}\p{M}\p{N}]`;

/**
 * A run of text that may be a phone number: an optional `+`, then at least MIN_PHONE_DIGITS digits with
 * at most four separators between two of them. Never starting right after a letter or digit, or after
 * one and a tight separator: those digits belong to a word (`SM0123…`, a UUID's `…-8def-012345678901`),
 * and a number after it starts at the next loose separator (`ref123 0612345678`). Separators and digits
 * are disjoint and the run needs nothing after its last digit, so matching is linear (no catastrophic
 * backtracking). Whether a run is a number is decided on it and its neighbours ({@link maskRunInText}).
 */
const PHONE_RUN = new RegExp(
  String.raw`(?<!${WORD}[${TIGHT}]?)(?:[+\uFF0B]\p{Nd}(?:[${TIGHT}${LOOSE}]{0,4}\p{Nd}){${MIN_INTERNATIONAL_DIGITS - 1},}|` +
    String.raw`\p{Nd}(?:[${TIGHT}${LOOSE}]{0,4}\p{Nd}){${MIN_PHONE_DIGITS - 1},})`,
  'gu',
);
/**
 * PHONE_RUN for text holding escapes (`%`, `\u`): they are separators too, `%2B` is a `+`, and a run never
 * starts inside one, nor counts the hex digit that ends one as a word before it (`%C20612…`, `\u000a0612…`).
 * Slower, so kept for the text that needs it.
 */
const PHONE_RUN_IN_ESCAPED_TEXT = new RegExp(
  String.raw`(?<!%[0-9A-Fa-f]?|\\u[0-9A-Fa-f]{0,3}|(?<!%[0-9A-Fa-f]|\\u[0-9A-Fa-f]{3})${WORD}[${TIGHT}]?)` +
    String.raw`(?:(?:[+\uFF0B]|%2[Bb])\p{Nd}(?:${SEPARATOR}{0,4}\p{Nd}){${MIN_INTERNATIONAL_DIGITS - 1},}|` +
    String.raw`\p{Nd}(?:${SEPARATOR}{0,4}\p{Nd}){${MIN_PHONE_DIGITS - 1},})`,
  'gu',
);
const LEADING_PLUS = /^(?:[+\uFF0B]|%2[Bb])/;
/** Splits a run into digit groups and the separators between them (kept, at the odd indexes). */
const SEPARATORS = new RegExp(String.raw`(${SEPARATOR}+)`, 'u');
const LOOSE_SEPARATOR = new RegExp(String.raw`[${LOOSE}]|${ESCAPE}`, 'u');
const NOT_DIGIT = new RegExp(String.raw`${ESCAPE}|\P{Nd}`, 'gu');
const NOT_DIGIT_NOR_BRACKET = new RegExp(String.raw`${ESCAPE}|[^\p{Nd}()]`, 'gu');
const NON_DIGITS = new RegExp(String.raw`((?:${ESCAPE}|\P{Nd})+)`, 'u');
/** A digit outside the BMP (`𝟎`, two UTF-16 units): counted and masked as one. */
const SURROGATE = /[\uD800-\uDFFF]/;
/** A letter or digit right after the run, or just after a tight separator after it (`0612345678-abc`). */
const WORD_AFTER = new RegExp(String.raw`^(?!${ESCAPE})[${TIGHT}]?${WORD}`, 'u');
const TIME_BEFORE = /\p{Nd}:$/u;
const TIME_AFTER = /^:\p{Nd}/u;
const HOUR_AT_END = new RegExp(String.raw`${SEPARATOR}{1,4}\p{Nd}{1,2}$`, 'u');
const MINUTES_AT_START = new RegExp(String.raw`^\p{Nd}{1,2}${SEPARATOR}{1,4}`, 'u');
const DATE = String.raw`(?:\p{Nd}{4}[-./]\p{Nd}{1,2}[-./]\p{Nd}{1,2}|\p{Nd}{1,2}[-./]\p{Nd}{1,2}[-./]\p{Nd}{4})`;
/** Dates only (`2030-01-15`, `15/01/2030`, or several: `2030-01-15/2030-01-20`), never a phone number. */
const DATES = new RegExp(String.raw`^${DATE}(?:${SEPARATOR}{1,4}${DATE})*$`, 'u');
const UUID = /^[0-9]{8}-[0-9]{4}-[0-9]{4}-[0-9]{4}-[0-9]{12}$/;

/**
 * A phone number for a log line: the country code, the first national digit and the last two
 * digits stay, every other digit becomes `*`, grouped as people read them:
 * `+33612345678` → `+33 6 ** ** ** 78`, `+14155550123` → `+1 4** *** **23`. Text that is not a valid
 * international number keeps only its first two and last two digits (`0612345678` → `06******78`,
 * `06 12 34 56 78` → `06 ** ** ** 78`), separators kept. Digits are any Unicode decimal digits
 * (`０６１２３４５６７８` → `０６******７８`). The one helper every log line mentioning a number goes through.
 */
export function maskPhone(value: unknown): string {
  const text = typeof value === 'string' ? value.trim() : String(value ?? '');
  return safeLogText(maskNumber(text), 64);
}

function maskNumber(text: string, digits = countDigits(text)): string {
  if (digits < 4) return maskDigits(text, 0, 0);
  if (text.startsWith('+') || text.startsWith('\uFF0B')) {
    // libphonenumber reads neither a full-width plus nor some separators (U+202F, `_`, escapes): spaces instead.
    const parsed = parsePhoneNumberFromString(`+${text.slice(1).replace(NOT_DIGIT_NOR_BRACKET, ' ')}`);
    // libphonenumber also finds a number inside longer text: its reading stands for the text only when
    // it is made of all the text's digits (one more for the trunk prefix in `+33 (0)6…`).
    const own = parsed ? parsed.number.length - 1 : 0;
    if (parsed?.isPossible() && (digits === own || (digits === own + 1 && text.includes('(')))) {
      const national = parsed.formatInternational().slice(parsed.countryCallingCode.length + 2); // after "+CC "
      return `+${parsed.countryCallingCode} ${maskDigits(national, 1, 2)}`;
    }
  }
  return maskDigits(text, 2, 2);
}

/** How many digits `text` holds: escapes (`%2B`, `\u00a0`) are not digits. */
function countDigits(text: string): number {
  const digits = text.replace(NOT_DIGIT, '');
  return SURROGATE.test(digits) ? Array.from(digits).length : digits.length;
}

/**
 * Keeps the first `keepStart` and the last `keepEnd` digits of `text`, masking the others with `*` and
 * keeping separators and escapes. Works on groups of digits, not digit by digit (a long run costs little).
 */
function maskDigits(text: string, keepStart: number, keepEnd: number): string {
  const parts = text.split(NON_DIGITS); // digit groups at even indexes
  const groups: (string | string[])[] = [];
  let total = 0;
  for (let i = 0; i < parts.length; i += 2) {
    const group = SURROGATE.test(parts[i]) ? Array.from(parts[i]) : parts[i];
    groups.push(group);
    total += group.length;
  }
  let seen = 0;
  groups.forEach((group, g) => {
    const from = Math.max(0, keepStart - seen);
    const to = Math.min(group.length, total - keepEnd - seen);
    if (from < to) parts[2 * g] = [group.slice(0, from), '*'.repeat(to - from), group.slice(to)].flat().join('');
    seen += group.length;
  });
  return parts.join('');
}

/**
 * Anything in free text that looks like a phone number, masked with {@link maskPhone}'s rules: 9 or more
 * digits (any Unicode decimal digits), optionally after `+`, `00` or `%2B`, with separators between them
 * (spaces of any kind, `.`, `-`, `/`, `_`, brackets, percent-escapes). The safety net under every log
 * message and logged URL. Stay readable: dates and times (`2030-01-15`, `2030-01-15 14:30`, ISO
 * timestamps), UUIDs and ids whose digits are glued to letters (`SM0123…`, `3f2b…-0123456789ab`), longer
 * runs of digits without separators (ids), and short numbers (counts, durations, codes).
 */
export function maskPhonesInText(text: string): string {
  const escaped = text.includes('%') || text.includes('\\u');
  return text.replace(escaped ? PHONE_RUN_IN_ESCAPED_TEXT : PHONE_RUN, maskRunInText);
}

/** One run found by PHONE_RUN in `text` at `offset`: masked when it is a phone number. */
function maskRunInText(run: string, offset: number, text: string): string {
  const plus = LEADING_PLUS.exec(run)?.[0] ?? '';
  const parts = run.slice(plus.length).split(SEPARATORS); // digit groups at even indexes, separators at odd ones
  const end = offset + run.length;
  let last = parts.length - 1;
  // Digits glued to a word after them belong to it, back to the last loose separator (`0612345678 12abc`).
  if (WORD_AFTER.test(text.slice(end, end + 6))) {
    last = parts.findLastIndex((part, i) => i % 2 === 1 && LOOSE_SEPARATOR.test(part)) - 1;
    if (last < 0) return run;
  }
  const core = plus + parts.slice(0, last + 1).join('');
  const time = {
    minutesFirst: TIME_BEFORE.test(text.slice(Math.max(0, offset - 2), offset)),
    hourLast: last === parts.length - 1 && TIME_AFTER.test(text.slice(end, end + 3)),
  };
  const digits = countDigits(core);
  if (digits < MIN_PHONE_DIGITS ? !isShortInternational(plus, core, digits) : !isPhoneLike(core, digits, last === 0, time)) return run;
  return maskNumber(core, digits) + parts.slice(last + 1).join('');
}

/** A run of 7 or 8 digits after a `+` (MIN_INTERNATIONAL_DIGITS) that libphonenumber reads as a possible number. */
function isShortInternational(plus: string, core: string, digits: number): boolean {
  if (!plus || digits < MIN_INTERNATIONAL_DIGITS) return false;
  const parsed = parsePhoneNumberFromString(`+${core.slice(plus.length).replace(NOT_DIGIT_NOR_BRACKET, ' ')}`);
  return parsed?.isPossible() === true && parsed.number.length - 1 === digits;
}

/**
 * Whether a run of digits and separators is a phone number rather than a count, an id or a date.
 * `digits`: how many it holds; `oneGroup`: written without separators. `time.minutesFirst`: the run follows `14:` (its first group is
 * minutes, as in `14:30 15/01/2030`); `time.hourLast`: it precedes `:30` (its last group is an hour, as in
 * `2030-01-15 14:30`).
 */
function isPhoneLike(core: string, digits: number, oneGroup: boolean, time: { minutesFirst: boolean; hourLast: boolean }): boolean {
  if (digits < MIN_PHONE_DIGITS || (oneGroup && digits > MAX_PHONE_DIGITS) || UUID.test(core)) return false;
  let dates = core;
  if (time.hourLast) dates = dates.replace(HOUR_AT_END, '');
  if (time.minutesFirst) dates = dates.replace(MINUTES_AT_START, '');
  return !DATES.test(dates);
}

const SECRET_QUERY_KEY = /token|password|secret|key|signature|auth/i;
/**
 * The query parameters the routes document (test/openapi.e2e-spec.ts checks this list against the OpenAPI document):
 * logged (numbers and emails masked). Any other parameter (refused with a 400 anyway) is logged with its value
 * replaced: a token pasted as `?jwt=…`, a message body as `?message=…` never reach the log.
 */
export const LOGGED_QUERY_KEYS: ReadonlySet<string> = new Set([
  'action',
  'actor',
  'category',
  'from',
  'kind',
  'limit',
  'locale',
  'page',
  'phone',
  'since',
  'state',
  'status',
  'to',
  'type',
  'until',
]);
const PERCENT_ESCAPES = /(?:%[0-9A-Fa-f]{2})+/g;

/**
 * An email address in free text or a URL: its local part (the usual characters, not `/ ? & =`) and its domain, dotted
 * or not (`admin@localhost`, the default superadmin's, is an address too), of at least two characters.
 */
const EMAIL = /[\p{L}\p{N}._%+'-]{1,64}@((?:[\p{L}\p{N}-]+\.)*[\p{L}\p{N}-]{2,})/gu;

/** Email addresses masked to their first character and domain: `agent@example.fr` → `a***@example.fr`. */
export function maskEmailsInText(text: string): string {
  return text.includes('@') ? text.replace(EMAIL, (address: string, domain: string) => `${Array.from(address)[0]}***@${domain}`) : text;
}

/** Names of fields, query parameters and route parameters whose values are phone numbers: logged masked, whatever their shape. */
export const PHONE_KEYS = ['to', 'from', 'phone', 'clientPhone', 'recipient'];
const PHONE_KEY = new RegExp(`^(?:${PHONE_KEYS.join('|')})$`, 'i');

/**
 * A request URL for the log: phone numbers and email addresses masked (in the path, as in
 * `/opt-outs/+33612345678`, and in the query string, as in `?actor=agent@example.fr`), the values of
 * secret-looking query parameters and of any parameter no route documents (LOGGED_QUERY_KEYS) replaced, control characters escaped, and the whole kept short. A value
 * named as a number (a `phone`/`to`/`from` query parameter, a `:phone` segment of `route`, the route's pattern) is
 * masked whatever its shape: one the free-text rules would read as something else (8 digits, `0612345678x12`,
 * `[06]12345678`) is still a number the caller typed.
 */
export function safeUrlForLog(url: string, route?: string): string {
  const [rawPath, rawQuery] = splitOnce(url, '?');
  const path = maskPhoneSegments(rawPath, route);
  const safeQuery =
    rawQuery === undefined
      ? ''
      : '?' +
        rawQuery
          .split('&')
          .map((pair) => {
            // A query string is form-encoded: `+` is a space there (and only there).
            const [key, value] = splitOnce(decode(pair.replace(/\+/g, ' ')), '=');
            if (value === undefined) return key;
            if (SECRET_QUERY_KEY.test(key) || !LOGGED_QUERY_KEYS.has(key.toLowerCase())) return `${key}=[redacted]`;
            // `from`/`to` are also date filters (`/api/audit?from=2030-01-15`): a date stays readable.
            return `${key}=${PHONE_KEY.test(key) && !ISO_DATE_VALUE.test(value) ? maskPhone(value) : value}`;
          })
          .join('&');
  return safeLogText(maskPhonesInText(maskEmailsInText(path + safeQuery)), 500);
}

/** A date or date-time as the API reads them (`2030-01-15`, `2030-01-15T14:30:00+01:00`). */
// An offset's `+` sent unencoded reads as a space (`…T10:00:00 01:00`): still a date (answered with a 400 saying so).
const ISO_DATE_VALUE = /^\d{4}-\d{2}-\d{2}(?:[Tt ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:[Zz]|[+ -]\d{2}:?\d{2})?)?$/;

/**
 * The raw path decoded segment by segment (an encoded `/` stays inside its segment, as the router reads it), with the
 * segments the route names as a number (`/api/sms/opt-outs/:phone`) masked.
 */
function maskPhoneSegments(rawPath: string, route: string | undefined): string {
  const segments = rawPath.split('/').map(decode);
  const names = route?.includes(':') ? route.split('/') : [];
  // `/api/sms/opt-outs/0612345678/` reaches its route too (ignoreTrailingSlash): the empty last segment has no name.
  if (segments.length === names.length + 1 && segments.at(-1) === '') names.push('');
  if (names.length !== segments.length) return segments.join('/');
  return segments
    .map((segment, i) => (names[i].startsWith(':') && PHONE_KEY.test(names[i].slice(1)) ? maskPhone(segment) : segment))
    .join('/');
}

/**
 * URL-decoded text. Each run of escapes is decoded on its own, and an escape that is not part of valid
 * UTF-8 (`%E0%A4`, `%ZZ`) is kept as written: one malformed escape does not leave the rest of the URL
 * encoded (its `%C2%A0` separators, its `%2B`), and what stays encoded is still masked (PHONE_RUN reads
 * escapes as separators).
 */
function decode(text: string): string {
  return text.includes('%') ? text.replace(PERCENT_ESCAPES, decodeEscapes) : text;
}

function decodeEscapes(escapes: string): string {
  try {
    return decodeURIComponent(escapes);
  } catch {
    // Some bytes are not UTF-8: decode character by character (1 to 4 bytes, told by the first one).
  }
  let decoded = '';
  for (let at = 0; at < escapes.length;) {
    const lead = parseInt(escapes.slice(at + 1, at + 3), 16);
    const bytes =
      lead < 0x80 ? 1 : lead >= 0xc2 && lead <= 0xdf ? 2 : lead >= 0xe0 && lead <= 0xef ? 3 : lead >= 0xf0 && lead <= 0xf4 ? 4 : 0;
    const char = bytes > 0 ? tryDecode(escapes.slice(at, at + 3 * bytes)) : undefined;
    decoded += char ?? escapes.slice(at, at + 3);
    at += char === undefined ? 3 : 3 * bytes;
  }
  return decoded;
}

function tryDecode(escapes: string): string | undefined {
  try {
    return decodeURIComponent(escapes);
  } catch {
    return undefined;
  }
}

function splitOnce(text: string, separator: string): [string, string | undefined] {
  const at = text.indexOf(separator);
  return at < 0 ? [text, undefined] : [text.slice(0, at), text.slice(at + 1)];
}
