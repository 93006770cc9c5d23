/**
 * A deliberately tiny, logic-less template language for SMS texts (a subset of Mustache):
 *
 * - `{{field}}`                   the value of `field`;
 * - `{{#field}}…{{/field}}`       the inner part, only when `field` has a value;
 * - `{{^field}}…{{/field}}`       the inner part, only when `field` has no value.
 *
 * Sections may nest. Spaces inside the braces are allowed (`{{ name }}`). Values are inserted literally:
 * the template is parsed once, before any value is known, so a value containing `{{name}}` is never
 * interpreted (no template injection). There is no escaping: SMS are plain text.
 */

export type TemplateNode =
  | { kind: 'text'; text: string }
  | { kind: 'field'; name: string }
  | { kind: 'section'; name: string; inverted: boolean; children: TemplateNode[] };

/** A parsed template, ready to render any number of times. */
export interface CompiledTemplate {
  readonly source: string;
  readonly nodes: readonly TemplateNode[];
}

/** A placeholder and the sections it sits in, outermost first. */
export interface PlaceholderUse {
  name: string;
  kind: 'field' | 'section';
  /** Enclosing sections, outermost first. */
  within: { name: string; inverted: boolean }[];
}

export class TemplateSyntaxError extends Error {
  override readonly name = 'TemplateSyntaxError';

  constructor(
    message: string,
    readonly source: string,
    readonly position: number,
  ) {
    super(`${message} at position ${position} of template "${source}"`);
  }
}

const FIELD_NAME = /^[A-Za-z][A-Za-z0-9_]*$/;

/** Parses `source`; throws {@link TemplateSyntaxError} on unbalanced braces or sections, or bad names. */
export function compileTemplate(source: string): CompiledTemplate {
  const root: TemplateNode[] = [];
  const stack: { name: string; position: number; children: TemplateNode[] }[] = [];
  const current = (): TemplateNode[] => (stack.length > 0 ? stack[stack.length - 1].children : root);
  const pushText = (text: string, position: number): void => {
    if (text.includes('}}')) throw new TemplateSyntaxError('Unexpected "}}"', source, position + text.indexOf('}}'));
    if (text) current().push({ kind: 'text', text });
  };

  let position = 0;
  while (position < source.length) {
    const open = source.indexOf('{{', position);
    if (open === -1) {
      pushText(source.slice(position), position);
      break;
    }
    pushText(source.slice(position, open), position);
    const close = source.indexOf('}}', open + 2);
    if (close === -1) throw new TemplateSyntaxError('Unclosed "{{"', source, open);

    const tag = source.slice(open + 2, close).trim();
    const sigil = tag[0] === '#' || tag[0] === '^' || tag[0] === '/' ? tag[0] : '';
    const name = tag.slice(sigil.length).trim();
    if (!FIELD_NAME.test(name)) throw new TemplateSyntaxError(`Invalid tag "{{${tag}}}"`, source, open);

    if (sigil === '#' || sigil === '^') {
      const children: TemplateNode[] = [];
      current().push({ kind: 'section', name, inverted: sigil === '^', children });
      stack.push({ name, position: open, children });
    } else if (sigil === '/') {
      const section = stack.pop();
      if (!section) throw new TemplateSyntaxError(`"{{/${name}}}" closes no section`, source, open);
      if (section.name !== name) {
        throw new TemplateSyntaxError(`"{{/${name}}}" closes section "${section.name}"`, source, open);
      }
    } else {
      current().push({ kind: 'field', name });
    }
    position = close + 2;
  }

  const unclosed = stack.pop();
  if (unclosed) throw new TemplateSyntaxError(`Section "${unclosed.name}" is never closed`, source, unclosed.position);
  return { source, nodes: root };
}

/** A value is present when it is a non-empty string. */
function isPresent(value: string | undefined): value is string {
  return typeof value === 'string' && value !== '';
}

function renderNodes(nodes: readonly TemplateNode[], values: Readonly<Record<string, string | undefined>>): string {
  let out = '';
  for (const node of nodes) {
    if (node.kind === 'text') out += node.text;
    else if (node.kind === 'field') out += isPresent(values[node.name]) ? values[node.name] : '';
    else if (isPresent(values[node.name]) !== node.inverted) out += renderNodes(node.children, values);
  }
  return out;
}

/**
 * Renders a compiled template. A missing value renders as nothing: callers decide beforehand which fields
 * are required (see SmsTemplateService). Values are never parsed.
 */
export function renderTemplate(template: CompiledTemplate, values: Readonly<Record<string, string | undefined>>): string {
  return renderNodes(template.nodes, values);
}

/** Every placeholder and section of a template, with the sections enclosing it (for catalog checks). */
export function placeholdersOf(template: CompiledTemplate): PlaceholderUse[] {
  const uses: PlaceholderUse[] = [];
  const walk = (nodes: readonly TemplateNode[], within: PlaceholderUse['within']): void => {
    for (const node of nodes) {
      if (node.kind === 'field') uses.push({ name: node.name, kind: 'field', within });
      if (node.kind === 'section') {
        uses.push({ name: node.name, kind: 'section', within });
        walk(node.children, [...within, { name: node.name, inverted: node.inverted }]);
      }
    }
  };
  walk(template.nodes, []);
  return uses;
}
