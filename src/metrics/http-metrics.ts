import type { FastifyInstance } from 'fastify';
import type { MetricsService } from './metrics.service.js';

/** Counts every answered request by route pattern (never the raw URL) and status, with its latency. */
export function installHttpMetrics(fastify: FastifyInstance, metrics: MetricsService): void {
  fastify.addHook('onResponse', (request, reply, done) => {
    metrics.httpRequest(request.method, request.routeOptions?.url, reply.statusCode, reply.elapsedTime / 1000);
    done();
  });
}
