/**
 * The `{{…}}` placeholders of a text an operator writes: `{{name}}` filled per recipient in a bulk, any other
 * refused before a send (strayPlaceholder), so that no client receives "Bonjour {{prenom}}".
 */
import { inlineText } from '../common/inline-text.js';

/** `{{name}}`, the one placeholder of a bulk text (filled per recipient by `personalize`). */
export const NAME_PLACEHOLDER = /\{\{\s*name\s*\}\}/;
/** NAME_PLACEHOLDER and nothing else (strayPlaceholder's `allowed` for a bulk). */
export const ONLY_NAME_PLACEHOLDER = new RegExp(`^${NAME_PLACEHOLDER.source}$`);

/**
 * The first `{{…}}` a send would leave in the text as written (`allowed`: the one it fills), so that no client
 * receives "Bonjour {{prenom}}": a typo (`{{Name}}`, `{{{name}}}`), another template's field, any placeholder in a single send.
 */
export function strayPlaceholder(body: string, allowed: RegExp | null): string | undefined {
  if (!body.includes('{{') && !body.includes('}}')) return undefined;
  // Every brace of the run is part of it: `{{{name}}}` is stray (a bulk would send `{Jean}`), not `{{name}}`. A run
  // is matched from its first brace only (the look-behind): from every brace of it, a body of 1,600 `{` cost 7 ms.
  for (const [placeholder] of body.matchAll(PLACEHOLDER_RUN)) if (!allowed?.test(placeholder)) return placeholder.slice(0, 40);
  // Half a placeholder around a word, once the whole ones are set aside: `{{name}` or `{{name,` (never closed), `{name}}`
  // (opened with one brace). Braces without a word inside (`{{{{`, a code in `{1234}`) are not a placeholder.
  const rest = body.replace(PLACEHOLDER_RUN, ' ');
  const opened = /\{\{\s*[\p{L}\p{N}_]/u.exec(rest);
  if (opened) return rest.slice(opened.index, opened.index + 40).trimEnd();
  const closed = /[\p{L}\p{N}_]\s*\}\}/u.exec(rest);
  if (closed) {
    const end = closed.index + closed[0].length;
    return rest.slice(Math.max(0, end - 40), end).trimStart();
  }
  return undefined;
}

/** A run of two or more opening braces, anything but braces, two or more closing ones (see strayPlaceholder). */
const PLACEHOLDER_RUN = /(?<!\{)\{{2,}[^{}]*\}{2,}/g;

/** `{{name}}` per recipient (its inlineText); without a name the placeholder and the spaces before it go. */
export function personalize(body: string, name: string | undefined): string {
  const value = name === undefined || name === null ? '' : inlineText(name);
  // A function, not a string: `$&` or `$'` in a name must not be read as replacement patterns.
  if (value) return body.replace(/\{\{\s*name\s*\}\}/g, () => value);
  // A text that opens on the name ("{{name}}, votre dossier…") loses the punctuation after it too, and starts
  // with a capital: "Votre dossier…", never ", votre dossier…".
  const opening = /^\s*\{\{\s*name\s*\}\}[\s,;:]*/;
  const rest = opening.test(body) ? body.replace(opening, '').replace(/^\p{Ll}/u, (letter) => letter.toUpperCase()) : body;
  return rest.replace(/ *\{\{\s*name\s*\}\}/g, '').trimStart();
}
