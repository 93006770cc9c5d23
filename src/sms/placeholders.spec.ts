import { describe, expect, it } from 'vitest';
import { ONLY_NAME_PLACEHOLDER, personalize, strayPlaceholder } from './placeholders.js';

describe('personalize', () => {
  it('should replace every {{name}} placeholder, spaced or not, with the trimmed name', () => {
    expect(personalize('Bonjour {{name}}, {{ name }} !', '  Jean ')).toBe('Bonjour Jean, Jean !');
  });

  it('should remove the placeholder and the space before it when there is no name', () => {
    expect(personalize('Bonjour {{name}}, votre dossier est prêt.', undefined)).toBe('Bonjour, votre dossier est prêt.');
    expect(personalize('{{name}} bonjour', '  ')).toBe('Bonjour');
  });

  it('should drop the punctuation after an opening placeholder without a name, and start with a capital', () => {
    expect(personalize('{{name}}, votre dossier est prêt.', undefined)).toBe('Votre dossier est prêt.');
    expect(personalize(' {{ name }} : RDV demain à 9h', '')).toBe('RDV demain à 9h');
    expect(personalize('{{name}}, {{name}} !', undefined)).toBe('!');
    expect(personalize('{{name}}, votre dossier est prêt.', 'Zoé')).toBe('Zoé, votre dossier est prêt.');
  });

  it('should insert a name containing replacement patterns literally', () => {
    expect(personalize('Bonjour {{name}}', "$& $' $1")).toBe("Bonjour $& $' $1");
  });
});

describe('strayPlaceholder', () => {
  const onlyName = ONLY_NAME_PLACEHOLDER;

  it('finds a placeholder a send would leave as written: any in a single send, any but {{name}} in a bulk', () => {
    expect(strayPlaceholder('Bonjour {{name}}', null)).toBe('{{name}}');
    expect(strayPlaceholder('Bonjour {{ name }}, à {{heure}}', onlyName)).toBe('{{heure}}');
    expect(strayPlaceholder('Bonjour {{NAME}}', onlyName)).toBe('{{NAME}}');
    expect(strayPlaceholder('Bonjour {{}}', onlyName)).toBe('{{}}');
    // Extra braces around {{name}}: a bulk would send "{Jean}".
    expect(strayPlaceholder('Bonjour {{{name}}}', onlyName)).toBe('{{{name}}}');
    expect(strayPlaceholder('Bonjour {{name}}}', onlyName)).toBe('{{name}}}');
    // A run of braces without a closing one is no placeholder (its cost, linear in the run, is measured by
    // `npm run bench:send -- --sections ops`: the worst case of the longest text, 1,600 of them).
    expect(strayPlaceholder('{'.repeat(1600), onlyName)).toBeUndefined();
    expect(strayPlaceholder(`${'{'.repeat(1600)}name}}`, onlyName)).toBe('{'.repeat(40));
    expect(strayPlaceholder(`{{${'x'.repeat(100)}}}`, onlyName)).toHaveLength(40);
  });

  it('finds half a placeholder: one never closed, or opened with a single brace', () => {
    expect(strayPlaceholder('Bonjour {{name}, votre dossier est à jour', onlyName)).toBe('{{name}, votre dossier est à jour');
    expect(strayPlaceholder('Bonjour {{prenom, à bientôt', null)).toBe('{{prenom, à bientôt');
    expect(strayPlaceholder('Bonjour {name}}, à bientôt', onlyName)).toBe('Bonjour {name}}');
    expect(strayPlaceholder('{{name}} et {{ville}', onlyName)).toBe('{{ville}');
    // Braces without a word inside are no placeholder.
    expect(strayPlaceholder('Bonjour {{ }} et {{{{', onlyName)).toBe('{{ }}');
    expect(strayPlaceholder('Flèches >>}} et {{<<', null)).toBeUndefined();
  });

  it('lets through {{name}} in a bulk, single braces and text without placeholders', () => {
    expect(strayPlaceholder('Bonjour {{ name }} et {{name}}', onlyName)).toBeUndefined();
    expect(strayPlaceholder('Code {1234} valable {5 min}', null)).toBeUndefined();
    expect(strayPlaceholder('Bonjour', null)).toBeUndefined();
  });
});

describe('inlineText in personalize', () => {
  it('is what personalize writes for a name', () => {
    expect(personalize('Bonjour {{name}}, à bientôt', 'He\u0301le\u0300ne\u00a0M.')).toBe('Bonjour Hélène M., à bientôt');
    expect(personalize('Bonjour {{name}}, à bientôt', '\u200b')).toBe('Bonjour, à bientôt');
  });
});
