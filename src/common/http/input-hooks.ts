import { UnsupportedMediaTypeException } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyInstance, RouteOptions } from 'fastify';
import type { AppConfig } from '../../config/app-config.js';
import { BODY_LIMIT_KEY, JSON_VALUES_LIMIT_KEY, type BodyLimit } from './body-limit.decorator.js';
import { FORM_BODY_KEY, FORM_ONLY, UNSUPPORTED_MEDIA_TYPE } from './form-body.decorator.js';
import {
  findInputProblem,
  INPUT_LIMITS,
  inputProblemException,
  jsonCharsetProblem,
  parseJsonBody,
  type InputProblem,
} from './input-limits.js';

/**
 * Installs, before any route is registered:
 * - the JSON body parser (bounded depth, keys and values; no unpaired surrogate or NUL in any string);
 * - the same checks on the query string, path parameters and form bodies (`preValidation`, before guards and pipes),
 *   a 415 for a form sent to a route without @AcceptsFormBody (only Twilio's webhooks take forms), and for JSON sent
 *   to one with it;
 * - per-route body limits (bytes, and values of a JSON body) from {@link BodyLimit}.
 */
export function installInputGuards(app: NestFastifyApplication, config: AppConfig): void {
  const fastify = app.getHttpAdapter().getInstance() as unknown as FastifyInstance;

  const resolve = (limit: BodyLimit) => (typeof limit === 'function' ? limit(config) : limit);
  fastify.addHook('onRoute', (route: RouteOptions) => {
    const routeConfig = route.config as Record<string, unknown> | undefined;
    const limit = routeConfig?.[BODY_LIMIT_KEY] as BodyLimit | undefined;
    if (limit !== undefined) route.bodyLimit = resolve(limit);
    const values = routeConfig?.[JSON_VALUES_LIMIT_KEY] as BodyLimit | undefined;
    // Resolved here: Fastify copies the route config into the context each request's routeOptions show.
    if (values !== undefined) route.config = { ...routeConfig, [JSON_VALUES_LIMIT_KEY]: resolve(values) };
  });

  // Fastify's text/plain parser would hand a JSON route a string ("to is required" for a JSON text sent as
  // text/plain): without it, anything but JSON (and the webhooks' forms) is a 415 naming the type to send.
  fastify.removeContentTypeParser('text/plain');

  app.useBodyParser('application/json', { bodyLimit: config.bodyLimitBytes }, (req, body, done) => {
    try {
      const charset = jsonCharsetProblem(req.headers['content-type']);
      if (charset) throw new UnsupportedMediaTypeException(charset);
      const maxNodes = (req.routeOptions?.config as unknown as Record<string, unknown> | undefined)?.[JSON_VALUES_LIMIT_KEY];
      const limits = typeof maxNodes === 'number' ? { ...INPUT_LIMITS, maxNodes } : INPUT_LIMITS;
      done(null, parseJsonBody(body, limits));
    } catch (error) {
      done(error as Error, undefined);
    }
  });

  fastify.addHook('preValidation', (request, _reply, done) => {
    // JSON bodies were checked while parsed; other parsed bodies (a form) are checked here.
    const formBody = request.body !== undefined && !/^application\/json\b/i.test(request.headers['content-type'] ?? '');
    // Forms are parsed for Twilio's webhooks only (@AcceptsFormBody); every other route takes JSON. A path no route
    // matches (no routeOptions.url) is left to its 404.
    const formRoute = (request.routeOptions?.config as unknown as Record<string, unknown> | undefined)?.[FORM_BODY_KEY] === true;
    if (formBody && request.routeOptions?.url && !formRoute) {
      done(new UnsupportedMediaTypeException(UNSUPPORTED_MEDIA_TYPE));
      return;
    }
    // And the other way round: Twilio's webhooks take its form only (a JSON body was signed over nothing Twilio sends).
    if (formRoute && request.body !== undefined && !formBody) {
      done(new UnsupportedMediaTypeException(FORM_ONLY));
      return;
    }
    const problem =
      // The keys' own checks first: a repeated key is named in the answer only once it is known to be printable.
      findInputProblem(request.query ?? {}, '', { maxDepth: 2, maxKeysPerObject: 50, maxNodes: 500 }, 'query string') ??
      repeatedParameter(request.query) ??
      findInputProblem(request.params ?? {}, '', { maxDepth: 2, maxKeysPerObject: 20, maxNodes: 50 }, 'path') ??
      (formBody ? findInputProblem(request.body) : undefined);
    done(problem ? inputProblemException(problem) : undefined);
  });
}

/**
 * Every query parameter of this API takes one value: `?since=a&since=b` (which Fastify reads as a list) is refused
 * as given twice, not checked as one odd value ("since must be a date").
 */
function repeatedParameter(query: unknown): InputProblem | undefined {
  if (typeof query !== 'object' || query === null) return undefined;
  const name = Object.keys(query).find((key) => Array.isArray((query as Record<string, unknown>)[key]));
  return name === undefined ? undefined : { field: name, problem: 'must be given once' };
}
