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
