import { Logger } from '@nestjs/common';
import type { FastifyInstance } from 'fastify';

/**
 * With TRUST_PROXY off (the default), `X-Forwarded-For` is ignored and `request.ip` is the socket's peer: behind a load
 * balancer or reverse proxy that is the proxy, for every client, so the sign-in limits per IP (LOGIN_MAX_ATTEMPTS_PER_IP,
 * LOGIN_MAX_PER_IP_PER_MINUTE) count all clients together (one client failing 20 times blocks everyone's sign-in) and
 * the journal's `ip` is the proxy's. A request that carries the header says a proxy is there: one warning per process
 * (the setting is the operator's to choose: the header alone cannot be trusted).
 */
export function installForwardedForWarning(fastify: FastifyInstance, trustProxy: boolean | string[]): void {
  if (trustProxy !== false) return;
  let warned = false;
  fastify.addHook('onRequest', (request, _reply, done) => {
    if (!warned && request.headers['x-forwarded-for'] !== undefined) {
      warned = true;
      new Logger('Http').warn(
        'A request came through a proxy (X-Forwarded-For) but TRUST_PROXY is off: every client behind it shares the ' +
          "proxy's address for the sign-in limits per IP and in the journal; set TRUST_PROXY to the proxy's addresses " +
          '(said once)',
      );
    }
    done();
  });
}
