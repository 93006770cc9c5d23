import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { maskEmailsInText, maskPhonesInText } from '../common/log-safe.js';

/** The header a request id is read from and answered in. */
export const REQUEST_ID_HEADER = 'x-request-id';

/**
 * What a caller's X-Request-Id may be to be kept (a proxy's or a client's correlation id): 1 to 128
 * letters, digits and `-_.:@/+=`. Anything else (too long, spaces, control characters, quotes, a
 * repeated header, a phone number, an email address) is ignored and a fresh id is generated, so a request id can never forge a log
 * line, carry a payload or a client's number.
 */
const SANE_REQUEST_ID = /^[A-Za-z0-9\-_.:@/+=]{1,128}$/;

export function saneRequestId(value: unknown): string | undefined {
  // Nor a phone number (`+33612345678`, `appt:0612345678`) nor an email address: the id is on every line of its request,
  // unmasked.
  return typeof value === 'string' && SANE_REQUEST_ID.test(value) && maskPhonesInText(value) === value && maskEmailsInText(value) === value
    ? value
    : undefined;
}

/** Fastify's `genReqId`: the caller's id when sane, else a random UUID. */
export function requestIdFor(request: IncomingMessage): string {
  return saneRequestId(request.headers[REQUEST_ID_HEADER]) ?? randomUUID();
}
