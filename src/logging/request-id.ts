import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** The header a request id is read from and answered in. */
export const REQUEST_ID_HEADER = 'x-request-id';

/**
 * What a caller's X-Request-Id may be to be kept (a proxy's or a client's correlation id): 1 to 128
 * letters, digits and `-_.:@/+=`. Anything else (too long, spaces, control characters, quotes, a
 * repeated header) is ignored and a fresh id is generated, so a request id can never forge a log line
 * or carry a payload.
 */
const SANE_REQUEST_ID = /^[A-Za-z0-9\-_.:@/+=]{1,128}$/;

export function saneRequestId(value: unknown): string | undefined {
  return typeof value === 'string' && SANE_REQUEST_ID.test(value) ? value : undefined;
}

/** Fastify's `genReqId`: the caller's id when sane, else a random UUID. */
export function requestIdFor(request: IncomingMessage): string {
  return saneRequestId(request.headers[REQUEST_ID_HEADER]) ?? randomUUID();
}
