import type { FastifyInstance } from 'fastify';
import { REQUEST_ID_HEADER } from './request-id.js';

/**
 * Per request: the request id in the `X-Request-Id` answer header, and one `request completed` line
 * when the answer has gone (method, masked URL, route pattern, status, milliseconds), at `info`, or
 * `error` for a 5xx (but a health probe's). Fastify's own request lines are off (they would log the raw URL).
 */
/** The health probes' routes: their 503 says a part is down, which Health logs itself. */
const HEALTH_ROUTES = new Set(['/api/health', '/api/health/live', '/api/health/ready']);

export function installRequestLogging(fastify: FastifyInstance): void {
  fastify.addHook('onRequest', (request, reply, done) => {
    void reply.header(REQUEST_ID_HEADER, request.id);
    done();
  });
  fastify.addHook('onResponse', (request, reply, done) => {
    const line = { req: request, res: reply, responseTime: Math.round(reply.elapsedTime * 10) / 10 };
    // A readiness probe's 503 is its answer, not a failure of the service (the part that is down is logged under
    // Health once a minute): at info, not one error line per probe.
    if (reply.statusCode >= 500 && !HEALTH_ROUTES.has(request.routeOptions.url ?? '')) request.log.error(line, 'request completed');
    else request.log.info(line, 'request completed');
    done();
  });
}
