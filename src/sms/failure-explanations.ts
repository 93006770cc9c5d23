/**
 * What a caller is told about a provider failure: the HTTP status, Twilio's code and link, and a plain
 * explanation and hint in French or English.
 */
import { HttpStatus } from '@nestjs/common';
import { preferredLanguage } from '../common/i18n/accept-language.js';
import { isGatewayFailure } from './dispatch/retry-policy.js';
import type { ProviderFailure } from './providers/sms-provider.js';

const LANGS = ['fr', 'en'] as const;
export type Lang = (typeof LANGS)[number];

interface Explanation {
  status: HttpStatus;
  fr: { explanation: string; hint: string };
  en: { explanation: string; hint: string };
}

/** Twilio's codes the brief names, and the ones a sender meets most, in plain words. */
const TWILIO_CODES: Record<number, Explanation> = {
  21211: {
    status: HttpStatus.BAD_REQUEST,
    fr: { explanation: 'Le numéro de téléphone fourni est invalide.', hint: 'Vérifiez le format du numéro (par exemple +33612345678).' },
    en: { explanation: 'The phone number given is invalid.', hint: 'Check the number format (for example +33612345678).' },
  },
  21608: {
    status: HttpStatus.FORBIDDEN,
    fr: {
      explanation: "En mode test, vous ne pouvez envoyer des SMS qu'aux numéros vérifiés : ce numéro ne l'est pas.",
      hint: 'Ajoutez le numéro dans votre console Twilio ou passez en mode production.',
    },
    en: {
      explanation: 'In test mode (a Twilio trial account) SMS go to verified numbers only: this one is not.',
      hint: 'Verify the number in your Twilio console or upgrade to production.',
    },
  },
  21408: {
    status: HttpStatus.FORBIDDEN,
    fr: {
      explanation: "Vous n'avez pas la permission d'envoyer des SMS à ce numéro (ou vers son pays).",
      hint: 'Vérifiez les restrictions de votre compte Twilio (autorisations géographiques).',
    },
    en: {
      explanation: 'You do not have permission to send SMS to this number (or to its country).',
      hint: "Check your Twilio account's restrictions (geographic permissions).",
    },
  },
  21610: {
    status: HttpStatus.FORBIDDEN,
    fr: {
      explanation: "Le destinataire s'est désabonné (STOP) : il ne reçoit plus vos SMS.",
      hint: 'Il doit renvoyer START pour se réabonner.',
    },
    en: {
      explanation: 'The recipient has unsubscribed (STOP) and no longer receives your SMS.',
      hint: 'They must reply START to opt back in.',
    },
  },
  21611: {
    status: HttpStatus.SERVICE_UNAVAILABLE,
    fr: {
      explanation: "La file d'attente de votre numéro Twilio est pleine : Twilio refuse les nouveaux messages jusqu'à ce qu'elle se vide.",
      hint: 'Le message est réessayé pendant SMS_OUTAGE_RETRY_MS ; pour de gros envois, utilisez plusieurs numéros (Messaging Service).',
    },
    en: {
      explanation: "Your Twilio number's queue is full: Twilio refuses new messages until it drains.",
      hint: 'The message is retried for SMS_OUTAGE_RETRY_MS; for large sends, use several numbers (a Messaging Service).',
    },
  },
  21614: {
    status: HttpStatus.UNPROCESSABLE_ENTITY,
    fr: { explanation: "Ce numéro n'est pas un mobile : il ne peut pas recevoir de SMS.", hint: 'Utilisez un numéro de mobile.' },
    en: { explanation: 'This number is not a mobile number and cannot receive SMS.', hint: 'Use a mobile number.' },
  },
  21612: {
    status: HttpStatus.UNPROCESSABLE_ENTITY,
    fr: {
      explanation: 'Twilio ne peut pas acheminer de SMS vers ce numéro.',
      hint: "Vérifiez le numéro, ou qu'il peut recevoir des SMS depuis votre expéditeur.",
    },
    en: { explanation: 'Twilio cannot route SMS to this number.', hint: 'Check the number, and that it can receive SMS from your sender.' },
  },
  21617: {
    status: HttpStatus.BAD_REQUEST,
    fr: { explanation: 'Le message dépasse 1600 caractères.', hint: 'Raccourcissez le message.' },
    en: { explanation: 'The message is longer than 1600 characters.', hint: 'Shorten the message.' },
  },
  20003: {
    status: HttpStatus.BAD_GATEWAY,
    fr: {
      explanation: 'Twilio a refusé les identifiants du service.',
      hint: 'Un administrateur doit vérifier TWILIO_ACCOUNT_SID et TWILIO_AUTH_TOKEN.',
    },
    en: {
      explanation: "Twilio refused the service's credentials.",
      hint: 'An administrator must check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN.',
    },
  },
  20429: {
    status: HttpStatus.SERVICE_UNAVAILABLE,
    fr: { explanation: 'Twilio limite le débit : trop de requêtes.', hint: 'Réessayez après le délai indiqué (Retry-After).' },
    en: { explanation: 'Twilio is rate limiting: too many requests.', hint: 'Retry after the delay given in Retry-After.' },
  },
};

const TIMEOUT: Explanation = {
  status: HttpStatus.GATEWAY_TIMEOUT,
  fr: {
    explanation: "Twilio n'a pas répondu à temps.",
    hint: 'Le SMS a peut-être été envoyé : consultez /api/sms/messages avant de réessayer.',
  },
  en: { explanation: 'Twilio did not answer in time.', hint: 'The SMS may have been sent: check /api/sms/messages before retrying.' },
};
/** A gateway in front of Twilio answered 500, 502 or 504 without Twilio's error (isGatewayFailure). */
const GATEWAY: Explanation = {
  status: HttpStatus.GATEWAY_TIMEOUT,
  fr: {
    explanation: 'Une passerelle devant Twilio a échoué sans réponse de Twilio : le SMS a peut-être été envoyé.',
    hint: 'Il est recherché chez Twilio avant tout nouvel envoi : consultez /api/sms/messages avant de réessayer.',
  },
  en: {
    explanation: "A gateway in front of Twilio failed without Twilio's answer: the SMS may have been sent.",
    hint: 'It is looked up at Twilio before any resend: check /api/sms/messages before retrying.',
  },
};
const UNREACHABLE: Explanation = {
  status: HttpStatus.BAD_GATEWAY,
  fr: { explanation: 'Twilio est injoignable.', hint: 'Réessayez plus tard.' },
  en: { explanation: 'Twilio cannot be reached.', hint: 'Try again later.' },
};
const TWILIO_DOWN: Explanation = {
  status: HttpStatus.BAD_GATEWAY,
  fr: { explanation: 'Twilio a rencontré une erreur.', hint: 'Réessayez plus tard.' },
  en: { explanation: 'Twilio had an error.', hint: 'Try again later.' },
};
const OTHER_REJECTION: Explanation = {
  status: HttpStatus.UNPROCESSABLE_ENTITY,
  fr: { explanation: 'Twilio a refusé le message.', hint: 'Voir le lien more_info pour le détail de ce code.' },
  en: { explanation: 'Twilio refused the message.', hint: 'See the more_info link for this code.' },
};

export interface ExplainedFailure {
  httpStatus: number;
  /** Twilio's numeric code, or TIMEOUT / CONNECTION_LOST / NETWORK when Twilio never answered. */
  code: string;
  providerMessage: string;
  moreInfo?: string;
  retryAfterSeconds?: number;
  explanation: string;
  hint: string;
}

/** Turns a provider failure into what the caller is told, in their language. */
export function explainFailure(failure: ProviderFailure, lang: Lang): ExplainedFailure {
  if (failure.kind !== 'rejected') {
    // A timeout or a connection lost after the request left: the SMS may have gone (504); never reached: 502.
    const e = failure.kind === 'network' ? UNREACHABLE : TIMEOUT;
    const code = failure.kind === 'lost' ? 'CONNECTION_LOST' : failure.kind.toUpperCase();
    return { httpStatus: e.status, code, providerMessage: failure.message, ...e[lang] };
  }
  const rateLimited = failure.code === 20429 || failure.status === 429;
  const known = rateLimited ? TWILIO_CODES[20429] : failure.code ? TWILIO_CODES[failure.code] : undefined;
  const e = known ?? (isGatewayFailure(failure) ? GATEWAY : (failure.status ?? 500) >= 500 ? TWILIO_DOWN : OTHER_REJECTION);
  return {
    httpStatus: e.status,
    code: String(failure.code ?? failure.status ?? 'UNKNOWN'),
    providerMessage: failure.message,
    moreInfo: failure.moreInfo,
    // A 429 without Retry-After still gets one: clients need a number to wait on.
    retryAfterSeconds: rateLimited ? (failure.retryAfterSeconds ?? 1) : undefined,
    ...e[lang],
  };
}

/** `Accept-Language` preferring English answers in English; anything else in French (the platform's language). */
export function languageOf(acceptLanguage: string | string[] | undefined): Lang {
  return preferredLanguage(acceptLanguage, LANGS, 'fr');
}

/**
 * Why a message Twilio accepted did not arrive: the ErrorCode of an `undelivered` or `failed` status
 * callback, in plain words. Codes outside this table fall back to the send-time table, then to a
 * generic sentence with the code.
 */
const DELIVERY_CODES: Record<number, { fr: string; en: string }> = {
  30001: {
    fr: "File d'attente saturée : Twilio n'a pas pu envoyer le message à temps.",
    en: 'Queue overflow: Twilio could not send the message in time.',
  },
  30002: { fr: 'Compte Twilio suspendu.', en: 'Twilio account suspended.' },
  30003: {
    fr: 'Téléphone injoignable : éteint, hors réseau ou sans service.',
    en: 'Unreachable handset: switched off, out of coverage or without service.',
  },
  30004: {
    fr: 'Message bloqué : le destinataire ou son opérateur bloque ces SMS.',
    en: 'Message blocked by the recipient or their carrier.',
  },
  30005: {
    fr: "Numéro inconnu : il n'existe pas ou n'est plus attribué.",
    en: 'Unknown number: it does not exist or is no longer assigned.',
  },
  30006: {
    fr: 'Ligne fixe ou opérateur injoignable : ce numéro ne peut pas recevoir de SMS.',
    en: 'Landline or unreachable carrier: this number cannot receive SMS.',
  },
  30007: { fr: "Message filtré par l'opérateur (contenu jugé indésirable).", en: 'Message filtered by the carrier (seen as unwanted).' },
  30008: { fr: "Erreur inconnue chez l'opérateur.", en: 'Unknown error at the carrier.' },
  30009: { fr: "Une partie du message s'est perdue.", en: 'A part of the message was lost.' },
  30010: { fr: 'Le prix du message dépasse le maximum fixé.', en: 'The message price is above the maximum set.' },
  30034: {
    fr: "Expéditeur non enregistré : le numéro d'envoi doit être enregistré (A2P 10DLC) pour ce pays.",
    en: 'Unregistered sender: the sending number must be registered (A2P 10DLC) for this country.',
  },
};

/** The codes this service stores itself (not Twilio's): an opt-out, a send whose outcome was unknown, quiet hours. */
const OWN_CODES: Record<string, { fr: string; en: string }> = {
  OPTED_OUT: {
    fr: "Non envoyé : le destinataire s'est désabonné (STOP) ou figure sur la liste d'opposition.",
    en: 'Not sent: the recipient opted out (STOP) or is on the opt-out list.',
  },
  CONNECTION_LOST: {
    fr: 'La connexion à Twilio a été perdue avant sa réponse : le SMS a pu partir ; il est recherché chez Twilio avant tout nouvel envoi.',
    en: 'The connection to Twilio was lost before its answer: the SMS may have left; it is looked up at Twilio before any resend.',
  },
  LEASE_EXPIRED: {
    fr: "L'envoi a été interrompu (arrêt ou panne du service) : le SMS est recherché chez Twilio avant tout nouvel envoi.",
    en: 'The send was interrupted (the service stopped or crashed): the SMS is looked up at Twilio before any resend.',
  },
  QUIET_HOURS: {
    fr: 'Rappel non envoyé : les heures de silence (QUIET_HOURS) avaient commencé avant que Twilio ne le prenne.',
    en: 'Reminder not sent: quiet hours (QUIET_HOURS) had begun before Twilio took it.',
  },
  COUNTRY_NOT_ALLOWED: {
    fr: "SMS non envoyé : le pays de ce numéro n'est plus parmi ceux où le service envoie (SMS_ALLOWED_COUNTRIES).",
    en: "SMS not sent: this number's country is no longer one the service sends to (SMS_ALLOWED_COUNTRIES).",
  },
  OUTDATED: {
    fr: "SMS non envoyé : le rendez-vous a été annulé, déplacé, a changé de numéro ou a commencé depuis qu'il a été écrit.",
    en: 'SMS not sent: its appointment was cancelled, moved, given another number or has started since it was written.',
  },
  UNKNOWN: { fr: "Twilio a refusé le message sans code d'erreur.", en: 'Twilio refused the message without an error code.' },
  PROVIDER_PAUSED: {
    fr: "Twilio semble en panne (ses derniers appels ont échoué) : les envois sont suspendus et reprennent d'eux-mêmes ; ce SMS partira alors.",
    en: 'Twilio looks down (its last calls failed): sends are paused and resume by themselves; this SMS will leave then.',
  },
};

/** A plain explanation of a stored error code (delivery or send time), in the caller's language. */
export function explainErrorCode(code: string | null | undefined, lang: Lang): string | null {
  if (!code) return null;
  const n = Number(code);
  const delivery = DELIVERY_CODES[n];
  if (delivery) return delivery[lang];
  const sendTime = TWILIO_CODES[n];
  if (sendTime) return sendTime[lang].explanation;
  if (code === 'TIMEOUT') return TIMEOUT[lang].explanation;
  if (code === 'NETWORK') return UNREACHABLE[lang].explanation;
  const own = OWN_CODES[code];
  if (own) return own[lang];
  if (!/^\d+$/.test(code)) return lang === 'en' ? `Error ${code}.` : `Erreur ${code}.`;
  // An HTTP status Twilio answered without a code of its own (stored as the code): no Twilio page for it.
  if (code.length === 3) {
    if (isGatewayFailure({ kind: 'rejected', status: n, message: '' })) return GATEWAY[lang].explanation;
    const e = n === 429 ? TWILIO_CODES[20429]! : n >= 500 ? TWILIO_DOWN : OTHER_REJECTION;
    return `${e[lang].explanation.replace(/\.$/, '')} (HTTP ${code}).`;
  }
  // Twilio's own server errors (20500 Internal Server Error, 20503 Service Unavailable…): Twilio is failing.
  if (n >= 20500 && n < 20600) return TWILIO_DOWN[lang].explanation;
  return lang === 'en'
    ? `Twilio error ${code} (see https://www.twilio.com/docs/errors/${code}).`
    : `Erreur Twilio ${code} (voir https://www.twilio.com/docs/errors/${code}).`;
}
