import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyInstance, RouteOptions } from 'fastify';
import type { AppConfig } from '../../config/app-config.js';
import { BODY_LIMIT_KEY, type BodyLimit } from './body-limit.decorator.js';
import { findInputProblem, inputProblemException, parseJsonBody } from './input-limits.js';

/**
 * Installs, before any route is registered:
 * - the JSON body parser (bounded depth, keys and values; no unpaired surrogate or NUL in any string);
 * - the same checks on the query string, path parameters and form bodies (`preValidation`, before guards and pipes);
 * - per-route body limits from {@link BodyLimit}.
 */
export function installInputGuards(app: NestFastifyApplication, config: AppConfig): void {
  const fastify = app.getHttpAdapter().getInstance() as unknown as FastifyInstance;

  fastify.addHook('onRoute', (route: RouteOptions) => {
    const limit = (route.config as Record<string, unknown> | undefined)?.[BODY_LIMIT_KEY] as BodyLimit | undefined;
    if (limit !== undefined) route.bodyLimit = typeof limit === 'function' ? limit(config) : limit;
  });

  app.useBodyParser('application/json', { bodyLimit: config.bodyLimitBytes }, (_req, body, done) => {
    try {
      done(null, parseJsonBody(body));
    } catch (error) {
      done(error as Error, undefined);
    }
  });

  fastify.addHook('preValidation', (request, _reply, done) => {
    // JSON bodies were checked while parsed; other parsed bodies (a form) are checked here.
    const formBody = request.body !== undefined && !/^application\/json\b/i.test(request.headers['content-type'] ?? '');
    const problem =
      findInputProblem(request.query ?? {}, '', { maxDepth: 2, maxKeysPerObject: 50, maxNodes: 500 }) ??
      findInputProblem(request.params ?? {}, '', { maxDepth: 2, maxKeysPerObject: 20, maxNodes: 50 }) ??
      (formBody ? findInputProblem(request.body) : undefined);
    done(problem ? inputProblemException(problem) : undefined);
  });
}
