import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyInstance } from 'fastify';
import helmet, { type HelmetOptions } from 'helmet';

/**
 * helmet's settings: its defaults, except the Content-Security-Policy. Swagger UI's page has inline styles
 * (its scripts are files: no inline script is allowed); the service is often reached over plain http (local
 * runs, an internal host), so Swagger UI's asset requests are not upgraded to https.
 * test/hardening.e2e-spec.ts loads Swagger UI in Chromium and expects no CSP violation.
 */
export const HELMET_OPTIONS: Readonly<HelmetOptions> = {
  contentSecurityPolicy: {
    directives: {
      defaultSrc: ["'self'"],
      styleSrc: ["'self'", "'unsafe-inline'"],
      imgSrc: ["'self'", 'data:', 'validator.swagger.io'],
      scriptSrc: ["'self'"],
      upgradeInsecureRequests: null,
    },
  },
};

/**
 * The headers helmet's middleware sets with these options, asked of it once. Without CSP nonces (none are
 * configured) they are the same on every answer; @fastify/helmet rebuilt helmet's middleware and re-parsed
 * the policy on every request instead.
 */
export function securityHeaders(options: Readonly<HelmetOptions> = HELMET_OPTIONS): Record<string, string> {
  const headers: Record<string, string> = {};
  const response = {
    setHeader: (name: string, value: string | number | readonly string[]) => {
      headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
    },
    removeHeader: (name: string) => delete headers[name.toLowerCase()],
  };
  let failure: unknown;
  helmet(options)({} as never, response as never, (error?: unknown) => (failure = error));
  if (failure) throw failure instanceof Error ? failure : new Error(String(failure));
  return headers;
}

/** helmet's headers on every answer, errors and 404s included (set when the request arrives). */
export function installSecurityHeaders(app: NestFastifyApplication, options: Readonly<HelmetOptions> = HELMET_OPTIONS): void {
  const headers = securityHeaders(options);
  const fastify = app.getHttpAdapter().getInstance() as unknown as FastifyInstance;
  fastify.addHook('onRequest', (_request, reply, done) => {
    void reply.headers(headers);
    done();
  });
}
