import type { InputAdvice } from '../common/errors/mapped-error.js';

/** The code of a number refused by SMS_ALLOWED_COUNTRIES (a 400's `code`, a bulk's invalid entry's). */
export const COUNTRY_NOT_ALLOWED = 'COUNTRY_NOT_ALLOWED';

export const COUNTRY_NOT_ALLOWED_ADVICE: InputAdvice = {
  fr: {
    explanation: "Ce service n'envoie pas de SMS vers le pays de ce numéro (SMS_ALLOWED_COUNTRIES).",
    hint: "Vérifiez l'indicatif du numéro ; si ce pays doit être servi, demandez à l'exploitant de l'ajouter à SMS_ALLOWED_COUNTRIES.",
  },
  en: {
    explanation: "This service does not send SMS to this number's country (SMS_ALLOWED_COUNTRIES).",
    hint: "Check the number's country code; if that country must be served, ask the operator to add it to SMS_ALLOWED_COUNTRIES.",
  },
};

/**
 * Where SMS may go (SMS_ALLOWED_COUNTRIES, off by default): a number of another country is refused before anything is
 * stored, like an invalid one (a 400 naming the field; in a bulk, an invalid entry). Guards against SMS pumping (a
 * stolen token, or a form, sending to premium ranges abroad at the platform's cost) on top of Twilio's own geographic
 * permissions. `country`: the number's (libphonenumber's region; null for a calling code shared by no region, +800…).
 * Returns why the number is refused, or null when it may be sent to.
 */
export function destinationRefusal(country: string | null, allowed: readonly string[] | null, field: string): string | null {
  if (!allowed || (country !== null && allowed.includes(country))) return null;
  return `${field} is a number of ${country ?? 'no country'}, and SMS go only to ${allowed.join(', ')} (SMS_ALLOWED_COUNTRIES)`;
}
