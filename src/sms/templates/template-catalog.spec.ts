import { readFileSync } from 'node:fs';
import { RENDERABLE_NOTIFICATION_TYPES } from './notification-types.js';
import {
  assertSameFields,
  DEFAULT_LOCALE,
  loadTemplateCatalogs,
  parseTemplateCatalog,
  SUPPORTED_LOCALES,
  TemplateCatalogError,
} from './template-catalog.js';

const readJson = (locale: string): { types: Record<string, Record<string, unknown>> } =>
  JSON.parse(readFileSync(new URL(`./${locale}.json`, import.meta.url), 'utf8'));

/** The problems reported for the French file after `edit`. */
const problemsAfter = (edit: (types: Record<string, Record<string, unknown>>) => void): string[] => {
  const json = readJson('fr');
  edit(json.types);
  try {
    parseTemplateCatalog(json, 'fr.json');
    return [];
  } catch (error) {
    if (error instanceof TemplateCatalogError) return error.problems;
    throw error;
  }
};

describe(loadTemplateCatalogs.name, () => {
  it('loads and validates the shipped fr.json and en.json', () => {
    const catalogs = loadTemplateCatalogs();
    expect(Object.keys(catalogs)).toEqual([...SUPPORTED_LOCALES]);
    for (const locale of SUPPORTED_LOCALES) expect(Object.keys(catalogs[locale])).toEqual([...RENDERABLE_NOTIFICATION_TYPES]);
  });

  it('reads the files once per process', () => {
    expect(loadTemplateCatalogs()).toBe(loadTemplateCatalogs());
  });
});

describe(parseTemplateCatalog.name, () => {
  it('accepts the shipped files unchanged', () => {
    expect(problemsAfter(() => undefined)).toEqual([]);
  });

  it('refuses a file without a types object', () => {
    expect(() => parseTemplateCatalog({ appointment_confirmed: {} }, 'x.json')).toThrow(/x\.json:\n- the file must hold an object/);
  });

  it('names a missing type and an unknown (misspelt) one', () => {
    expect(
      problemsAfter((types) => {
        types.message_recieved = types.message_received;
        delete types.message_received;
      }),
    ).toEqual(['unknown type "message_recieved"', 'type "message_received" is missing']);
  });

  it('names a placeholder that is not a declared field', () => {
    expect(problemsAfter((types) => (types.dossier_updated.text = 'Bonjour {{nom}}, {{name}}.'))).toContain(
      'dossier_updated: the text uses "nom", which is not a declared field',
    );
  });

  it('refuses an optional field used outside its own section', () => {
    expect(
      problemsAfter((types) => (types.dossier_updated.text = 'Bonjour {{name}}, dossier {{reference}}{{#status}} {{status}}{{/status}}.')),
    ).toEqual(['dossier_updated: the optional field "reference" must be used inside {{#reference}}…{{/reference}}']);
  });

  it('refuses an optional field used inside its inverted section', () => {
    expect(problemsAfter((types) => (types.message_received.text = 'Bonjour {{name}}{{^sender}} {{sender}}{{/sender}}.'))).toContain(
      'message_received: the optional field "sender" must be used inside {{#sender}}…{{/sender}}',
    );
  });

  it('refuses a declared field the text never uses', () => {
    expect(problemsAfter((types) => (types.document_uploaded.text = 'Bonjour {{name}}.'))).toEqual([
      'document_uploaded: field "documentName" is declared but the text never uses it',
    ]);
  });

  it('reports a template syntax error with its type', () => {
    expect(problemsAfter((types) => (types.message_received.text = 'Bonjour {{name}}{{#sender}} de {{sender}}.'))).toEqual([
      expect.stringMatching(/^message_received: Section "sender" is never closed/),
    ]);
  });

  it('checks each field declaration', () => {
    const problems = problemsAfter((types) => {
      const fields = types.dossier_updated.fields as Record<string, unknown>[];
      fields[1] = { name: 'ref erence', required: 'yes', description: '', example: 42, color: 'red' };
    });
    expect(problems).toEqual([
      'dossier_updated.fields[1]: unknown key "color"',
      'dossier_updated.fields[1]: "name" must be letters and digits',
      'dossier_updated.fields[1]: "required" must be true or false',
      'dossier_updated.fields[1]: "description" must be a non-empty text',
      'dossier_updated.fields[1]: "example" must be a non-empty text',
    ]);
  });

  it('requires a required name field in every type', () => {
    expect(
      problemsAfter((types) => {
        (types.message_received.fields as Record<string, unknown>[])[0].required = false;
        types.message_received.text = 'Bonjour{{#name}} {{name}}{{/name}}{{#sender}} {{sender}}{{/sender}}.';
      }),
    ).toEqual(['message_received: every type needs a required "name" field']);
  });

  it('refuses a field declared twice', () => {
    expect(
      problemsAfter((types) => {
        const fields = types.message_received.fields as unknown[];
        fields.push(fields[1]);
      }),
    ).toEqual(['message_received: field "sender" is declared twice']);
  });

  it('refuses requiredUnless naming no other field', () => {
    expect(
      problemsAfter((types) => {
        (types.appointment_confirmed.fields as Record<string, unknown>[])[1].requiredUnless = 'start';
      }),
    ).toContain('appointment_confirmed.date: "requiredUnless" names no other field of the type');
  });

  it('refuses unknown keys on a type, such as a misspelt text', () => {
    expect(
      problemsAfter((types) => {
        types.message_received.texte = types.message_received.text;
        delete types.message_received.text;
      }),
    ).toEqual(['message_received: unknown key "texte"', 'message_received: "text" must be a non-empty text']);
  });
});

describe(assertSameFields.name, () => {
  it('accepts the shipped translations', () => {
    const catalogs = loadTemplateCatalogs();
    expect(() => assertSameFields(catalogs[DEFAULT_LOCALE], catalogs.en, 'en.json')).not.toThrow();
  });

  it('refuses a translation whose fields differ from the French ones', () => {
    const en = readJson('en');
    (en.types.message_received.fields as Record<string, unknown>[])[1].required = true;
    const catalogs = loadTemplateCatalogs();
    expect(() => assertSameFields(catalogs.fr, parseTemplateCatalog(en, 'en.json'), 'en.json')).toThrow(
      /en\.json:\n- message_received: fields \(names, order, required, requiredUnless\) differ from those of fr\.json/,
    );
  });
});
