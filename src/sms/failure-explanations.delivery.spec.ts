import { explainErrorCode } from './failure-explanations.js';

describe('explainErrorCode', () => {
  it.each([
    ['30003', 'fr', /^Téléphone injoignable/],
    ['30003', 'en', /^Unreachable handset/],
    ['30004', 'en', /blocked/],
    ['30005', 'fr', /Numéro inconnu/],
    ['30006', 'en', /Landline or unreachable carrier/],
    ['30007', 'fr', /filtré/],
    ['30008', 'en', /Unknown error/],
    ['30034', 'en', /Unregistered sender/],
    ['21610', 'fr', /désabonné/],
    ['TIMEOUT', 'en', /did not answer in time/],
    ['39999', 'en', /^Twilio error 39999 \(see https:\/\/www\.twilio\.com\/docs\/errors\/39999\)\.$/],
  ] as const)('%s in %s', (code, lang, expected) => expect(explainErrorCode(code, lang)).toMatch(expected));

  it('explains nothing without a code', () => expect(explainErrorCode(null, 'fr')).toBeNull());
});
