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

/**
 * A phone number for a log line: the country code, the first national digit and the last two
 * digits stay, every other digit becomes `*`, grouped as people read them:
 * `+33612345678` → `+33 6 ** ** ** 78`, `+14155550123` → `+1 4** *** **23`. Text that is not a valid
 * international number keeps only its first two and last two digits (`0612345678` → `06 ** ** ** 78`
 * style for a French national number). The one helper every log line mentioning a number goes through.
 */
export function maskPhone(value: unknown): string {
  const text = typeof value === 'string' ? value.trim() : String(value ?? '');
  const digits = text.replace(/\D/g, '');
  if (digits.length < 4) return safeLogText(text.replace(/\d/g, '*'), 64);
  if (text.startsWith('+')) {
    const parsed = parsePhoneNumberFromString(text);
    if (parsed?.isPossible()) {
      const national = parsed.formatInternational().slice(parsed.countryCallingCode.length + 2); // after "+CC "
      return `+${parsed.countryCallingCode} ${maskDigits(national, 1)}`;
    }
  }
  return safeLogText(maskDigits(text, 2), 64);
}

/** Keeps the first `keepStart` and the last two digits of `text`, masking the rest and keeping separators. */
function maskDigits(text: string, keepStart: number): string {
  const total = text.replace(/\D/g, '').length;
  let seen = 0;
  return text.replace(/\d/g, (digit) => {
    seen++;
    return seen <= keepStart || seen > total - 2 ? digit : '*';
  });
}

/**
 * Anything in free text that looks like a phone number (9 to 15 digits, optionally after `+`, with
 * spaces, dots, dashes or brackets between them), masked with {@link maskPhone}. The safety net
 * under every log message: dates (`2030-01-15`, 8 digits), times and short ids stay readable.
 */
const PHONE_IN_TEXT = /(?<![\w+.-])\+?\d(?:[ .\-()]{0,2}\d){8,14}(?!\w|[-.]\w)/g;

export function maskPhonesInText(text: string): string {
  return text.replace(PHONE_IN_TEXT, (match) => maskPhone(match));
}

const SECRET_QUERY_KEY = /token|password|secret|key|signature|auth/i;

/**
 * A request URL for the log: phone numbers masked (in the path, as in `/opt-outs/+33612345678`, and
 * in the query string), the values of secret-looking query parameters replaced, control characters
 * escaped, and the whole kept short.
 */
export function safeUrlForLog(url: string): string {
  const [rawPath, rawQuery] = splitOnce(url, '?');
  const path = decode(rawPath);
  const safeQuery =
    rawQuery === undefined
      ? ''
      : '?' +
        rawQuery
          .split('&')
          .map((pair) => {
            // A query string is form-encoded: `+` is a space there (and only there).
            const [key, value] = splitOnce(decode(pair.replace(/\+/g, ' ')), '=');
            return value === undefined ? key : `${key}=${SECRET_QUERY_KEY.test(key) ? '[redacted]' : value}`;
          })
          .join('&');
  return safeLogText(maskPhonesInText(path + safeQuery), 500);
}

/** URL-decoded text, or the raw text when its escapes are malformed (it is still masked). */
function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function splitOnce(text: string, separator: string): [string, string | undefined] {
  const at = text.indexOf(separator);
  return at < 0 ? [text, undefined] : [text.slice(0, at), text.slice(at + 1)];
}
