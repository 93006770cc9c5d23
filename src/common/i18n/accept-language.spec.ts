import { preferredLanguage } from './accept-language.js';

const pick = (header: string | string[] | undefined) => preferredLanguage(header, ['fr', 'en'] as const, 'fr');

describe('preferredLanguage', () => {
  it.each([undefined, '', '*'])('should answer the fallback without a usable header (%j)', (header) => {
    expect(pick(header)).toBe('fr');
  });

  it.each(['en', 'en-US', 'EN-gb', ' en-GB , fr;q=0.8', 'de, en;q=0.8', 'fr;q=0.2, en;q=0.9'])('should answer English for %j', (header) => {
    expect(pick(header)).toBe('en');
  });

  it.each(['fr', 'fr-FR,en;q=0.9', 'de', 'es-ES', 'en;q=0, de'])('should answer French for %j', (header) => {
    expect(pick(header)).toBe('fr');
  });

  it('should read a repeated header as one list', () => {
    expect(pick(['de', 'en'])).toBe('en');
  });
});
