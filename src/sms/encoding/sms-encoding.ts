/**
 * SMS encoding and segment count, as Twilio and carriers count them.
 *
 * A body made only of characters of the GSM 03.38 (3GPP TS 23.038) default alphabet travels as GSM-7:
 * 160 septets in a single SMS, 153 per part of a concatenated one (the user data header takes the rest).
 * Characters of the extension table cost two septets (escape + character) and the pair is never split across
 * two parts. Any other character switches the whole message to UCS-2 (UTF-16 in practice): 70 code units in a
 * single SMS, 67 per part, and a surrogate pair (emoji, ...) is never split across two parts.
 */

/** Twilio refuses bodies longer than this (in characters). */
export const MAX_SMS_BODY_LENGTH = 1600;

export type SmsEncoding = 'GSM-7' | 'UCS-2';

export interface SmsBodyAnalysis {
  encoding: SmsEncoding;
  /** Number of SMS billed; 0 for an empty body. */
  segments: number;
  /** UTF-16 code units, as Twilio counts characters (an emoji counts 2). */
  characters: number;
  /** Septets used (GSM-7 only; extension characters count 2). */
  septets?: number;
  /** The distinct characters that forced UCS-2, in order of first appearance; empty for GSM-7. */
  ucs2Characters: string[];
}

export const GSM7_SINGLE_SEGMENT_SEPTETS = 160;
export const GSM7_MULTIPART_SEGMENT_SEPTETS = 153;
export const UCS2_SINGLE_SEGMENT_UNITS = 70;
export const UCS2_MULTIPART_SEGMENT_UNITS = 67;

/**
 * GSM 03.38 default alphabet, in table order (0x00 to 0x7F), without 0x1B (the escape to the extension table).
 * Note what is NOT there, which matters in French: ê â î ô û ë ï ç (lowercase; only Ç is), œ, À, curly quotes,
 * guillemets, the degree sign.
 */
const GSM7_BASIC_TABLE =
  '@£$¥èéùìòÇ\nØø\rÅå' +
  'Δ_ΦΓΛΩΠΨΣΘΞ' /* 0x1B escape */ +
  'ÆæßÉ' +
  ' !"#¤%&\'()*+,-./' +
  '0123456789:;<=>?' +
  '¡ABCDEFGHIJKLMNO' +
  'PQRSTUVWXYZÄÖÑÜ§' +
  '¿abcdefghijklmno' +
  'pqrstuvwxyzäöñüà';

/** GSM 03.38 extension table: each costs the escape septet plus its own. */
const GSM7_EXTENSION_TABLE = '\f^{}\\[~]|€';

const GSM7_BASIC = new Set(GSM7_BASIC_TABLE);
const GSM7_EXTENSION = new Set(GSM7_EXTENSION_TABLE);

/** Septets needed for one character in GSM-7, or undefined when it is not in the GSM 03.38 alphabet. */
function gsm7Septets(char: string): 1 | 2 | undefined {
  if (GSM7_BASIC.has(char)) return 1;
  if (GSM7_EXTENSION.has(char)) return 2;
  return undefined;
}

/**
 * Number of parts when units of the given sizes are packed in order, without splitting any of them:
 * one part if the whole fits in `single`, else parts of `perPart`.
 */
function countSegments(unitSizes: number[], single: number, perPart: number): number {
  const total = unitSizes.reduce((sum, size) => sum + size, 0);
  if (total === 0) return 0;
  if (total <= single) return 1;
  let segments = 1;
  let used = 0;
  for (const size of unitSizes) {
    if (used + size > perPart) {
      segments++;
      used = 0;
    }
    used += size;
  }
  return segments;
}

/** Encoding, segment count and the characters that forced UCS-2, for an SMS body. */
export function analyzeSmsBody(body: string): SmsBodyAnalysis {
  const text = typeof body === 'string' ? body : '';
  // Iterating a string yields code points: an emoji is one item of two UTF-16 code units.
  const chars = [...text];
  const ucs2Characters = [...new Set(chars.filter((char) => gsm7Septets(char) === undefined))];

  if (ucs2Characters.length === 0) {
    const sizes = chars.map((char) => gsm7Septets(char)!);
    return {
      encoding: 'GSM-7',
      segments: countSegments(sizes, GSM7_SINGLE_SEGMENT_SEPTETS, GSM7_MULTIPART_SEGMENT_SEPTETS),
      characters: text.length,
      septets: sizes.reduce<number>((sum, size) => sum + size, 0),
      ucs2Characters: [],
    };
  }

  const sizes = chars.map((char) => char.length);
  return {
    encoding: 'UCS-2',
    segments: countSegments(sizes, UCS2_SINGLE_SEGMENT_UNITS, UCS2_MULTIPART_SEGMENT_UNITS),
    characters: text.length,
    ucs2Characters,
  };
}

/** True when every character of `text` is in the GSM 03.38 alphabet (basic or extension table). */
export function isGsm7(text: string): boolean {
  for (const char of text) if (gsm7Septets(char) === undefined) return false;
  return true;
}
