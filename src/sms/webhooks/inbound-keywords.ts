import { foldKeyword, type InboundSmsConfig } from '../../config/app-config.js';
import type { InboundKeyword } from './inbound-sms.entity.js';

/** Twilio's `OptOutType` values (sent when Advanced Opt-Out is on) and what they mean here. */
const OPT_OUT_TYPES: Readonly<Record<string, InboundKeyword>> = { STOP: 'opt_out', START: 'opt_in', HELP: 'help' };

/** Symbols (emoji, `+`, `€` …) and punctuation around a reply's words: `"STOP 🛑"` asks what `"STOP"` asks. */
const SURROUNDING_SYMBOLS = /^[\s\p{P}\p{S}]+|[\s\p{P}\p{S}]+$/gu;

/**
 * What an inbound SMS asks for. Twilio's own `OptOutType`, when present, decides; otherwise the
 * body is folded ({@link foldKeyword}: case, accents, full-width letters, invisible characters, surrounding
 * spaces and punctuation, typographic included), stripped of the emoji and symbols around it, and compared
 * with the configured keyword lists, folded the same way. Only a message that is exactly a keyword
 * counts: "stop, je suis malade" is a reply, not an opt-out.
 */
export function classifyInbound(body: string, optOutType: string | null, config: InboundSmsConfig): InboundKeyword | null {
  if (optOutType) {
    const known = OPT_OUT_TYPES[optOutType.toUpperCase()];
    if (known) return known;
  }
  const folded = foldKeyword(body).replace(SURROUNDING_SYMBOLS, '');
  if (!folded) return null;
  if (config.optOutKeywords.includes(folded)) return 'opt_out';
  if (config.optInKeywords.includes(folded)) return 'opt_in';
  if (config.helpKeywords.includes(folded)) return 'help';
  return null;
}
