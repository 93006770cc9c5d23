import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { STATUS_CODES } from 'node:http';
import { REQUEST_ID_HEADER } from '../../logging/request-id.js';
import { securityHeaders } from './security-headers.js';

const MESSAGES: Record<string, string> = {
  FST_ERR_BAD_URL: 'The URL is not valid (a % not followed by two hexadecimal digits, or not UTF-8)',
  FST_ERR_MAX_PARAM_LENGTH: 'A path parameter is too long',
};

/**
 * Fastify's `frameworkErrors`: the requests it refuses before routing (a malformed URL, an over-long path
 * parameter) get what every other answer gets, which no hook gives them there: the common error shape
 * (no Fastify `code`), helmet's headers, the request id, and a `request completed` log line.
 */
export function frameworkErrorHandler(): (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => void {
  const headers = securityHeaders();
  return (error, request, reply) => {
    const statusCode = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 400;
    request.log.info({ req: request, res: { statusCode } }, 'request completed');
    void reply
      .code(statusCode)
      .headers(headers)
      .header(REQUEST_ID_HEADER, request.id)
      .send({ statusCode, error: STATUS_CODES[statusCode], message: MESSAGES[error.code] ?? 'The request cannot be routed' });
  };
}
