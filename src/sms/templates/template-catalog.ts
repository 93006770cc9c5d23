import { readFileSync } from 'node:fs';
import { RENDERABLE_NOTIFICATION_TYPES, type RenderableNotificationType } from './notification-types.js';
import { compileTemplate, placeholdersOf, TemplateSyntaxError, type CompiledTemplate } from './template-renderer.js';

/**
 * The per-locale template files (`fr.json`, `en.json`, beside this file; the build copies them to dist):
 * loading, and the checks that turn an editing mistake into a clear error at startup instead of a broken SMS.
 */

export const SUPPORTED_LOCALES = ['fr', 'en'] as const;
export type TemplateLocale = (typeof SUPPORTED_LOCALES)[number];
export const DEFAULT_LOCALE: TemplateLocale = 'fr';

export interface TemplateFieldSpec {
  name: string;
  required: boolean;
  /** A required field may be left out when this other field is given (date and time, when startsAt is). */
  requiredUnless?: string;
  description: string;
  example: string;
}

export interface TemplateSpec {
  type: RenderableNotificationType;
  description: string;
  fields: TemplateFieldSpec[];
  text: string;
  template: CompiledTemplate;
}

export type TemplateCatalog = Record<RenderableNotificationType, TemplateSpec>;

export class TemplateCatalogError extends Error {
  override readonly name = 'TemplateCatalogError';

  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`Invalid SMS template file ${source}:\n- ${problems.join('\n- ')}`);
  }
}

const FIELD_NAME = /^[A-Za-z][A-Za-z0-9_]*$/;
const FIELD_KEYS = new Set(['name', 'required', 'requiredUnless', 'description', 'example']);
const TYPE_KEYS = new Set(['description', 'fields', 'text']);

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const isNonEmptyString = (value: unknown): value is string => typeof value === 'string' && value.trim() !== '';

function parseField(raw: unknown, where: string, problems: string[]): TemplateFieldSpec | undefined {
  if (!isRecord(raw)) {
    problems.push(`${where}: must be an object`);
    return undefined;
  }
  const before = problems.length;
  for (const key of Object.keys(raw)) if (!FIELD_KEYS.has(key)) problems.push(`${where}: unknown key "${key}"`);
  if (typeof raw.name !== 'string' || !FIELD_NAME.test(raw.name)) problems.push(`${where}: "name" must be letters and digits`);
  if (typeof raw.required !== 'boolean') problems.push(`${where}: "required" must be true or false`);
  if (raw.requiredUnless !== undefined && (typeof raw.requiredUnless !== 'string' || raw.required !== true)) {
    problems.push(`${where}: "requiredUnless" must name another field, on a required field`);
  }
  if (!isNonEmptyString(raw.description)) problems.push(`${where}: "description" must be a non-empty text`);
  if (!isNonEmptyString(raw.example)) problems.push(`${where}: "example" must be a non-empty text`);
  if (problems.length > before) return undefined;
  return {
    name: raw.name as string,
    required: raw.required as boolean,
    ...(raw.requiredUnless !== undefined ? { requiredUnless: raw.requiredUnless as string } : {}),
    description: raw.description as string,
    example: raw.example as string,
  };
}

function parseType(type: RenderableNotificationType, raw: unknown, problems: string[]): TemplateSpec | undefined {
  if (!isRecord(raw)) {
    problems.push(`${type}: must be an object`);
    return undefined;
  }
  const before = problems.length;
  for (const key of Object.keys(raw)) if (!TYPE_KEYS.has(key)) problems.push(`${type}: unknown key "${key}"`);
  if (!isNonEmptyString(raw.description)) problems.push(`${type}: "description" must be a non-empty text`);
  if (!isNonEmptyString(raw.text)) problems.push(`${type}: "text" must be a non-empty text`);
  if (!Array.isArray(raw.fields)) {
    problems.push(`${type}: "fields" must be a list`);
    return undefined;
  }

  const fields = raw.fields.map((field, i) => parseField(field, `${type}.fields[${i}]`, problems));
  if (problems.length > before) return undefined;
  const specs = fields as TemplateFieldSpec[];
  const byName = new Map<string, TemplateFieldSpec>();
  for (const field of specs) {
    if (byName.has(field.name)) problems.push(`${type}: field "${field.name}" is declared twice`);
    byName.set(field.name, field);
  }
  if (byName.get('name')?.required !== true) problems.push(`${type}: every type needs a required "name" field`);
  for (const field of specs) {
    if (field.requiredUnless === undefined) continue;
    const other = byName.get(field.requiredUnless);
    if (!other || other.name === field.name) problems.push(`${type}.${field.name}: "requiredUnless" names no other field of the type`);
  }

  let template: CompiledTemplate;
  try {
    template = compileTemplate(raw.text as string);
  } catch (error) {
    if (!(error instanceof TemplateSyntaxError)) throw error;
    problems.push(`${type}: ${error.message}`);
    return undefined;
  }

  const used = new Set<string>();
  for (const use of placeholdersOf(template)) {
    used.add(use.name);
    const field = byName.get(use.name);
    if (!field) {
      problems.push(`${type}: the text uses "${use.name}", which is not a declared field`);
      continue;
    }
    // An optional value may only be printed where it is known to be present: inside its own {{#field}} section.
    const guarded = field.required || use.within.some((section) => section.name === use.name && !section.inverted);
    if (use.kind === 'field' && !guarded) {
      problems.push(`${type}: the optional field "${use.name}" must be used inside {{#${use.name}}}…{{/${use.name}}}`);
    }
  }
  const replacing = new Set(specs.flatMap((field) => (field.requiredUnless ? [field.requiredUnless] : [])));
  for (const field of specs) {
    if (!used.has(field.name) && !replacing.has(field.name))
      problems.push(`${type}: field "${field.name}" is declared but the text never uses it`);
  }

  return { type, description: raw.description as string, fields: specs, text: raw.text as string, template };
}

/** Validates the content of one template file; throws {@link TemplateCatalogError} listing every problem. */
export function parseTemplateCatalog(json: unknown, source: string): TemplateCatalog {
  const problems: string[] = [];
  if (!isRecord(json) || !isRecord(json.types))
    throw new TemplateCatalogError(source, ['the file must hold an object with a "types" object']);
  const types = json.types;
  for (const key of Object.keys(types)) {
    if (!(RENDERABLE_NOTIFICATION_TYPES as readonly string[]).includes(key)) problems.push(`unknown type "${key}"`);
  }
  const catalog: Partial<TemplateCatalog> = {};
  for (const type of RENDERABLE_NOTIFICATION_TYPES) {
    if (!(type in types)) {
      problems.push(`type "${type}" is missing`);
      continue;
    }
    const spec = parseType(type, types[type], problems);
    if (spec) catalog[type] = spec;
  }
  if (problems.length > 0) throw new TemplateCatalogError(source, problems);
  return catalog as TemplateCatalog;
}

/** Field declarations must match across locales: only descriptions, examples and texts are translated. */
export function assertSameFields(reference: TemplateCatalog, other: TemplateCatalog, source: string): void {
  const signature = (spec: TemplateSpec): string =>
    JSON.stringify(spec.fields.map(({ name, required, requiredUnless }) => [name, required, requiredUnless ?? null]));
  const problems = RENDERABLE_NOTIFICATION_TYPES.filter((type) => signature(reference[type]) !== signature(other[type])).map(
    (type) => `${type}: fields (names, order, required, requiredUnless) differ from those of ${DEFAULT_LOCALE}.json`,
  );
  if (problems.length > 0) throw new TemplateCatalogError(source, problems);
}

function readCatalogFile(locale: TemplateLocale): TemplateCatalog {
  // Resolved against this module, so it works from src (Vitest) and from dist (the build copies the JSON).
  const url = new URL(`./${locale}.json`, import.meta.url);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(url, 'utf8'));
  } catch (error) {
    throw new TemplateCatalogError(url.pathname, [error instanceof Error ? error.message : String(error)]);
  }
  return parseTemplateCatalog(json, url.pathname);
}

let cache: Record<TemplateLocale, TemplateCatalog> | undefined;

/** Every locale's catalog, read and checked once per process. */
export function loadTemplateCatalogs(): Record<TemplateLocale, TemplateCatalog> {
  if (cache) return cache;
  const catalogs = Object.fromEntries(SUPPORTED_LOCALES.map((locale) => [locale, readCatalogFile(locale)])) as Record<
    TemplateLocale,
    TemplateCatalog
  >;
  for (const locale of SUPPORTED_LOCALES) {
    if (locale !== DEFAULT_LOCALE) assertSameFields(catalogs[DEFAULT_LOCALE], catalogs[locale], `${locale}.json`);
  }
  cache = catalogs;
  return catalogs;
}
