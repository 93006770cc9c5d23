import type { ProviderFailure } from './providers/sms-provider.js';
import { explainFailure, languageOf } from './failure-explanations.js';

const rejected = (failure: Partial<Extract<ProviderFailure, { kind: 'rejected' }>>): ProviderFailure => ({
  kind: 'rejected',
  message: 'Twilio says no',
  ...failure,
});

describe('explainFailure', () => {
  it.each([
    [21211, 400, 400],
    [21608, 400, 403],
    [21408, 400, 403],
    [21610, 400, 403],
    [21614, 400, 422],
    [21612, 400, 422],
    [21617, 400, 400],
    [20003, 401, 502],
    [20429, 429, 503],
  ])('should answer Twilio code %i (HTTP %i from Twilio) with HTTP %i', (code, twilioStatus, httpStatus) => {
    const explained = explainFailure(rejected({ code, status: twilioStatus }), 'fr');

    expect(explained.httpStatus).toBe(httpStatus);
    expect(explained.code).toBe(String(code));
  });

  it.each([21211, 21608, 21408, 21610, 21614, 21612, 21617, 20003, 20429])(
    'should explain code %i with its own text, in French and in English',
    (code) => {
      const generic = {
        fr: explainFailure(rejected({ code: 29999, status: 400 }), 'fr'),
        en: explainFailure(rejected({ code: 29999, status: 400 }), 'en'),
      };

      const fr = explainFailure(rejected({ code, status: 400 }), 'fr');
      const en = explainFailure(rejected({ code, status: 400 }), 'en');

      expect(fr.explanation).not.toBe(generic.fr.explanation);
      expect(en.explanation).not.toBe(generic.en.explanation);
      expect(fr.explanation).not.toBe(en.explanation);
      expect(fr.hint).not.toBe(en.hint);
      expect(fr.hint).toBeTruthy();
      expect(en.hint).toBeTruthy();
    },
  );

  it("should answer a gateway's 500, 502 or 504 without Twilio's error as an unknown outcome (504, the SMS may have left)", () => {
    expect(explainFailure({ kind: 'rejected', status: 504, message: '[HTTP 504] Failed to execute request' }, 'en')).toMatchObject({
      httpStatus: 504,
      code: '504',
      explanation: "A gateway in front of Twilio failed without Twilio's answer: the SMS may have been sent.",
    });
    // Twilio's own 500 (code 20500) and a gateway's 503: Twilio is failing, nothing was created.
    expect(explainFailure(rejected({ code: 20500, status: 500 }), 'en')).toMatchObject({
      httpStatus: 502,
      explanation: 'Twilio had an error.',
    });
    expect(explainFailure({ kind: 'rejected', status: 503, message: '' }, 'en')).toMatchObject({ httpStatus: 502 });
  });

  it('should explain in French or in English', () => {
    const failure = rejected({ code: 21211, status: 400 });

    expect(explainFailure(failure, 'fr')).toMatchObject({
      explanation: 'Le numéro de téléphone fourni est invalide.',
      hint: 'Vérifiez le format du numéro (par exemple +33612345678).',
    });
    expect(explainFailure(failure, 'en')).toMatchObject({
      explanation: 'The phone number given is invalid.',
      hint: 'Check the number format (for example +33612345678).',
    });
  });

  it.each<[number, string, string]>([
    [21211, 'Le numéro de téléphone fourni est invalide.', 'Vérifiez le format du numéro (par exemple +33612345678).'],
    [
      21608,
      "En mode test, vous ne pouvez envoyer des SMS qu'aux numéros vérifiés : ce numéro ne l'est pas.",
      'Ajoutez le numéro dans votre console Twilio ou passez en mode production.',
    ],
    [
      21408,
      "Vous n'avez pas la permission d'envoyer des SMS à ce numéro (ou vers son pays).",
      'Vérifiez les restrictions de votre compte Twilio (autorisations géographiques).',
    ],
  ])('explains %i in the words of the brief, in French', (code, explanation, hint) => {
    expect(explainFailure(rejected({ code, status: 400 }), 'fr')).toMatchObject({ explanation, hint });
  });

  it("should pass Twilio's message and more_info link through", () => {
    const explained = explainFailure(
      rejected({
        code: 21610,
        status: 400,
        message: 'Attempt to send to unsubscribed recipient',
        moreInfo: 'https://www.twilio.com/docs/errors/21610',
      }),
      'en',
    );

    expect(explained).toMatchObject({
      providerMessage: 'Attempt to send to unsubscribed recipient',
      moreInfo: 'https://www.twilio.com/docs/errors/21610',
    });
  });

  it("should keep Twilio's Retry-After for a rate limit", () => {
    expect(explainFailure(rejected({ code: 20429, status: 429, retryAfterSeconds: 7 }), 'en').retryAfterSeconds).toBe(7);
  });

  it('should give a rate limit without Retry-After a Retry-After of 1 second', () => {
    expect(explainFailure(rejected({ code: 20429, status: 429 }), 'en').retryAfterSeconds).toBe(1);
  });

  it('should treat an HTTP 429 without Twilio code as a rate limit', () => {
    const explained = explainFailure(rejected({ status: 429 }), 'en');

    expect(explained).toMatchObject({ httpStatus: 503, code: '429', retryAfterSeconds: 1 });
  });

  it('should not give a Retry-After to anything but a rate limit', () => {
    expect(explainFailure(rejected({ code: 21211, status: 400, retryAfterSeconds: 5 }), 'en').retryAfterSeconds).toBeUndefined();
  });

  it('should answer 422 for an unknown Twilio 4xx rejection', () => {
    const explained = explainFailure(rejected({ code: 29999, status: 400 }), 'en');

    expect(explained).toMatchObject({ httpStatus: 422, code: '29999', explanation: 'Twilio refused the message.' });
  });

  it('should answer 502 for a Twilio 5xx', () => {
    const explained = explainFailure(rejected({ status: 503 }), 'fr');

    expect(explained).toMatchObject({ httpStatus: 502, code: '503', explanation: 'Twilio a rencontré une erreur.' });
  });

  it('should answer 502 for a rejection with neither code nor status', () => {
    expect(explainFailure(rejected({}), 'en')).toMatchObject({ httpStatus: 502, code: 'UNKNOWN' });
  });

  it('should answer 504 TIMEOUT when Twilio never answered, saying the SMS may have gone', () => {
    const explained = explainFailure({ kind: 'timeout', message: 'timeout of 10000ms exceeded' }, 'en');

    expect(explained).toMatchObject({
      httpStatus: 504,
      code: 'TIMEOUT',
      providerMessage: 'timeout of 10000ms exceeded',
      explanation: 'Twilio did not answer in time.',
    });
    expect(explained.hint).toContain('may have been sent');
    expect(explained.retryAfterSeconds).toBeUndefined();
  });

  it('should answer 502 NETWORK when Twilio cannot be reached', () => {
    const explained = explainFailure({ kind: 'network', message: 'ECONNREFUSED' }, 'fr');

    expect(explained).toMatchObject({
      httpStatus: 502,
      code: 'NETWORK',
      providerMessage: 'ECONNREFUSED',
      explanation: 'Twilio est injoignable.',
    });
  });

  it('should answer 504 CONNECTION_LOST, saying the SMS may have gone, when the connection dropped after the request left', () => {
    const explained = explainFailure({ kind: 'lost', message: 'socket hang up' }, 'fr');

    expect(explained).toMatchObject({ httpStatus: 504, code: 'CONNECTION_LOST', hint: expect.stringMatching(/peut-être/) });
  });
});

describe('languageOf', () => {
  it.each([undefined, ''])('should answer French without Accept-Language (%j)', (header) => {
    expect(languageOf(header)).toBe('fr');
  });

  it.each(['en', 'en-US', 'EN-gb', ' en-GB , fr;q=0.8'])('should answer English when the first language is English (%j)', (header) => {
    expect(languageOf(header)).toBe('en');
  });

  it.each(['fr', 'fr-FR,en;q=0.9', 'de', 'es-ES'])('should answer French for any other first language (%j)', (header) => {
    expect(languageOf(header)).toBe('fr');
  });
});
