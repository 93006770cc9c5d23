/**
 * How a value (a bulk recipient's name, a template's field, an appointment's client name) is written into an SMS, and
 * what it may not hold then. Shared by the SMS side (personalize, the templates) and the validators of the routes
 * that take such values (IsText's `visible` and `noPlaceholder`).
 */
/**
 * A value written into a message (a bulk recipient's name, a template's field), as it is written in: composed (NFC:
 * `é`, not `e` and a combining accent, which is UCS-2), without invisible or control characters (a zero-width space,
 * a bell; the zero-width joiner of an emoji sequence stays), every run of spaces (a tab, a line break, a no-break
 * space, UCS-2 too) one plain space, trimmed. So a name pasted from a phone neither doubles a message's segments nor
 * breaks its line.
 */
export function inlineText(value: string): string {
  return value
    .normalize('NFC')
    .replace(INVISIBLE_BUT_EMOJI, '')
    .replace(/[\p{Cc}\s]+/gu, ' ')
    .trim();
}

/**
 * Format characters (`\p{Cf}`: zero-width spaces, direction marks…) but those an emoji is made of: a zero-width joiner
 * between two pictographs (👨‍👩‍👧; a stray one after a name is UCS-2 for nothing), the tags of a subdivision flag after 🏴.
 */
const INVISIBLE_BUT_EMOJI =
  /(?<!\p{Extended_Pictographic}[\uFE0F\p{Emoji_Modifier}]?)\u200D|\u200D(?!\p{Extended_Pictographic})|(?<![\u{1F3F4}\u{E0020}-\u{E007F}])[\u{E0020}-\u{E007F}]|(?![\u200D\u{E0020}-\u{E007F}])\p{Cf}/gu;

/**
 * The problem of a value holding `{{` or `}}` once written in (inlineText: a soft hyphen or a zero-width space between
 * the braces goes), or null: a placeholder left unfilled upstream (a "{{first_name}}" from a failed mail merge) would
 * reach the client as written, a value never being re-read as a template.
 */
export function placeholderProblem(value: string): string | null {
  return /\{\{|\}\}/.test(inlineText(value))
    ? 'must not contain {{ or }} (a placeholder left unfilled would reach the client as written)'
    : null;
}
