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
    // This service's own codes: no link to a Twilio page that does not exist.
    ['OPTED_OUT', 'fr', /^Non envoyé : le destinataire s'est désabonné/],
    ['OPTED_OUT', 'en', /^Not sent: the recipient opted out/],
    ['CONNECTION_LOST', 'en', /^The connection to Twilio was lost/],
    ['LEASE_EXPIRED', 'fr', /^L'envoi a été interrompu/],
    ['NETWORK', 'en', /^Twilio cannot be reached/],
    ['SOMETHING_ELSE', 'en', /^Error SOMETHING_ELSE\.$/],
    // Twilio failing or limiting: the plain words of the final answer, not a link to a page of the code.
    ['20500', 'fr', /^Twilio a rencontré une erreur\.$/],
    ['20503', 'en', /^Twilio had an error\.$/],
    ['20429', 'fr', /^Twilio limite le débit/],
    // An HTTP status without a Twilio code: no link to a Twilio page that does not exist.
    ['503', 'fr', /^Twilio a rencontré une erreur \(HTTP 503\)\.$/],
    // A gateway's 500, 502 or 504 without Twilio's error: the SMS may have left.
    ['504', 'fr', /^Une passerelle devant Twilio a échoué sans réponse de Twilio : le SMS a peut-être été envoyé\.$/],
    ['502', 'en', /^A gateway in front of Twilio failed without Twilio's answer: the SMS may have been sent\.$/],
    ['429', 'en', /^Twilio is rate limiting: too many requests \(HTTP 429\)\.$/],
    ['404', 'en', /^Twilio refused the message \(HTTP 404\)\.$/],
  ] as const)('%s in %s', (code, lang, expected) => expect(explainErrorCode(code, lang)).toMatch(expected));

  it('explains nothing without a code', () => expect(explainErrorCode(null, 'fr')).toBeNull());
});
