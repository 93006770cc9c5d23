import { type INestApplication, LogLevel, Logger, type Type } from '@nestjs/common';
import { LogController } from 'fastify';
import type { DestinationStream } from 'pino';
import { ModulesContainer, NestFactory, Reflector } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { AppModule } from './app.module.js';
import { Clock } from './common/clock.js';
import { rolesRequiredMessage, routeAccess, type RouteAccess } from './common/decorators/roles.decorator.js';
import { setDateOnlyTimeZone } from './common/dto/iso-date.js';
import { AllExceptionsFilter } from './common/filters/all-exceptions.filter.js';
import { frameworkErrorHandler } from './common/http/framework-errors.js';
import { installInputGuards } from './common/http/input-hooks.js';
import { installForwardedForWarning } from './common/http/forwarded-for-warning.js';
import { installCloseOnShutdown } from './common/http/close-on-shutdown.js';
import { installSecurityHeaders } from './common/http/security-headers.js';
import { createValidationPipe } from './common/validation.js';
import type { AppConfigOptions } from './config/config.module.js';
import { loadConfigFromProcess } from './config/process-config.js';
import { AppLogger, createRootLogger, pinoLevelFor } from './logging/app-logger.js';
import { requestIdFor } from './logging/request-id.js';
import { installRequestLogging } from './logging/request-logging.js';
import { installHttpMetrics } from './metrics/http-metrics.js';
import { MetricsService } from './metrics/metrics.service.js';
import { withCurrentSendAt } from './sms/dto/send-sms.dto.js';

export interface CreateAppOptions extends AppConfigOptions {
  /** Log levels (Nest's names) instead of LOG_LEVEL; `false` logs nothing. Tests keep it quiet. */
  logger?: LogLevel[] | false;
  /** Where the JSON log lines go instead of stdout (tests read them). */
  logDestination?: DestinationStream;
}

/**
 * Builds the whole application as it runs in production: main.ts and the end-to-end tests both
 * call this, so tests exercise the same pipes, filters, guards and plugins.
 */
export async function createApp(options: CreateAppOptions = {}): Promise<NestFastifyApplication> {
  // The environment is validated here, once: the adapter needs it before Nest exists, and the
  // same AppConfig instance (with its one generated JWT secret, if any) is what every module injects.
  const config = options.config ?? loadConfigFromProcess({ overrides: options.overrides, ignoreEnvFile: options.ignoreEnvFile });
  // One pino logger per app, built before Nest so the boot lines are JSON too (LOG_LEVEL applies
  // from the first line). Fastify derives each request's logger from it, bound to the request id.
  const root = createRootLogger(config, {
    level: options.logger === undefined ? undefined : pinoLevelFor(options.logger),
    destination: options.logDestination,
  });
  const adapter = new FastifyAdapter({
    bodyLimit: config.bodyLimitBytes,
    // Fastify's default is no limit: a client that sends part of its body and then nothing held its connection (and
    // its socket) for ever. Receiving only: a handler's own time (a send waiting SMS_SEND_WAIT_MS) is not counted.
    requestTimeout: config.requestTimeoutMs,
    // Node applies it only with a headers timeout no longer than it (its own is 60 s), and checks both every 30 s by
    // default: a quarter of it here, so a 408 comes within 1.25 times it.
    http: {
      headersTimeout: Math.min(60_000, config.requestTimeoutMs),
      connectionsCheckingInterval: Math.min(30_000, Math.ceil(config.requestTimeoutMs / 4)),
    },
    trustProxy: config.trustProxy,
    loggerInstance: root,
    genReqId: requestIdFor,
    // Fastify's own request lines are off: installRequestLogging writes one per request, URL masked.
    logController: new LogController({ requestIdLogLabel: 'requestId', disableRequestLogging: true }),
    frameworkErrors: frameworkErrorHandler(),
    // `/api/sms/messages/` is `/api/sms/messages`: a trailing slash a client or a proxy adds is not a 404.
    routerOptions: { ignoreTrailingSlash: true },
  });
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot({ config }), adapter, {
    logger: new AppLogger(root),
    bufferLogs: false,
    abortOnError: false,
  });

  app.setGlobalPrefix('api');
  const fastify = app.getHttpAdapter().getInstance();
  installRequestLogging(fastify);
  installForwardedForWarning(fastify, config.trustProxy);
  installHttpMetrics(fastify, app.get(MetricsService));
  installInputGuards(app, config);
  setDateOnlyTimeZone(config.defaultTimeZone);
  app.useGlobalPipes(createValidationPipe());
  app.useGlobalFilters(new AllExceptionsFilter());

  if (config.corsOrigins.length) {
    // @fastify/cors (through Nest's adapter, which runs its hook before everything else): browsers on these
    // origins may call the API. Tokens travel in the Authorization header, never in cookies: no credentials.
    const allowed = new Set(config.corsOrigins);
    app.enableCors({
      // Decided per request: an origin not on the list (or no Origin: not a cross-origin call) gets no CORS
      // header at all; with the list itself, @fastify/cors left out only Access-Control-Allow-Origin.
      origin:
        config.corsOrigins[0] === '*'
          ? '*'
          : (origin: string | undefined, done: (error: Error | null, allow: string | false) => void) =>
              done(null, origin !== undefined && allowed.has(origin) ? origin : false),
      credentials: false,
      methods: ['GET', 'HEAD', 'POST', 'PATCH', 'DELETE'],
      // X-Request-Id: a browser app's own id for the request, kept in the logs and answered back (src/logging/request-id.ts).
      allowedHeaders: ['Authorization', 'Content-Type', 'Accept-Language', 'Idempotency-Key', 'X-Request-Id'],
      exposedHeaders: ['Retry-After', 'Idempotency-Replayed', 'X-Request-Id'],
      maxAge: 600,
    });
  }

  // helmet's headers (src/common/http/security-headers.ts), on every answer.
  installSecurityHeaders(app);
  // Answers given once shutdown has begun close their connection (src/common/http/close-on-shutdown.ts).
  installCloseOnShutdown(app);

  // API_DOCS_ENABLED=false: no Swagger UI nor OpenAPI document (404), for a deployment that does not publish its API.
  if (config.apiDocsEnabled) {
    const document = createApiDocument(app);
    const clock = app.get(Clock);
    SwaggerModule.setup('api/docs', app, document, {
      jsonDocumentUrl: 'api/docs-json',
      customSiteTitle: 'SMS backbone API',
      // The token given to Authorize is kept in the browser's localStorage across reloads.
      swaggerOptions: { persistAuthorization: true, tryItOutEnabled: true },
      // The send examples' sendAt stays "tomorrow" however long the service has been up.
      patchDocumentOnRequest: (_request, _reply, served) => withCurrentSendAt(served, clock.now()),
    });
  }

  if (config.jwt.secretGenerated) {
    new Logger('Config').warn('JWT_SECRET is not set: using a random secret for this run (tokens end when the process stops)');
  }
  return app;
}

/**
 * The OpenAPI document served at /api/docs(-json). Every operation says who may call it, read from the same
 * @Public / @Roles metadata the guards enforce (never a hand-written list): its description ends with
 * "Roles: admin, superadmin." or "Any signed-in user." (nothing for a public route), and an operation limited to
 * roles documents the guard's 403, "This action requires one of the roles: admin, superadmin".
 */
export function createApiDocument(app: INestApplication): OpenAPIObject {
  // Swagger's default operation ids (`Controller_method`), each remembered with its controller and method.
  const routes = new Map<string, { controller: string; method: string }>();
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('SMS backbone')
      .setDescription(
        'Send SMS through Twilio (single, templated, bulk), format phone numbers, and read the journal. ' +
          'Sign in with POST /api/auth/login, then paste access_token in "Authorize".',
      )
      .setVersion('0.1.0')
      .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' })
      // Swagger UI lists the tags in this order: what a newcomer needs first.
      .addTag('auth', 'Sign in here first, then paste access_token in "Authorize"')
      .addTag('sms', 'Send SMS, format numbers, read the templates and the stored messages')
      .addTag('appointments', 'Appointments: their SMS and reminders are sent by the service')
      .addTag('users', 'Staff accounts (admin and superadmin)')
      .addTag('audit', 'The journal of every send and change')
      .addTag('health', 'Liveness, readiness and Prometheus metrics')
      .build(),
    {
      operationIdFactory: (controller, method, version) => {
        const id = [controller, method, version].filter(Boolean).join('_');
        // An alias route (several paths on one method) is `method[index]`.
        routes.set(id, { controller, method: method.replace(/\[\d+\]$/, '') });
        return id;
      },
    },
  );
  stateWhoMayCall(app, document, routes);
  documentBodyRefusals(document);
  return document;
}

/**
 * The refusals of a JSON body that every route taking one answers before its own checks (src/common/http/), in its
 * OpenAPI responses: 413 past its size limit, 415 for another content type.
 */
function documentBodyRefusals(document: OpenAPIObject): void {
  const errorSchema = document.components?.schemas?.ErrorResponseDto ? { $ref: '#/components/schemas/ErrorResponseDto' } : undefined;
  const content = errorSchema ? { 'application/json': { schema: errorSchema } } : undefined;
  for (const operations of Object.values(document.paths)) {
    for (const operation of Object.values(operations) as {
      requestBody?: { content?: Record<string, unknown> };
      responses?: Record<string, unknown>;
    }[]) {
      if (!operation?.responses || !operation.requestBody?.content?.['application/json']) continue;
      // Responses declared on a controller are one object shared by its operations: each gets its own copy.
      operation.responses = {
        ...operation.responses,
        '413': operation.responses['413'] ?? {
          description: 'The body is larger than this route accepts (BODY_LIMIT_BYTES; bulk: more)',
          content,
        },
        '415': operation.responses['415'] ?? { description: 'Unsupported Content-Type: send application/json (UTF-8)', content },
      };
    }
  }
}

const ACCESS_PREFIX = 'Roles: ';
const SIGNED_IN = 'Any signed-in user.';

function stateWhoMayCall(
  app: INestApplication,
  document: OpenAPIObject,
  routes: Map<string, { controller: string; method: string }>,
): void {
  // Controllers by class name (what the operation ids carry); a name two controllers share is left out, never guessed.
  const controllers = new Map<string, Type<unknown> | null>();
  for (const module of app.get(ModulesContainer).values()) {
    for (const wrapper of module.controllers.values()) {
      const type = wrapper.metatype as Type<unknown> | null;
      if (!type) continue;
      const seen = controllers.get(type.name);
      controllers.set(type.name, seen === undefined || seen === type ? type : null);
    }
  }
  const reflector = new Reflector();
  const accessOf = (operationId: string | undefined): RouteAccess | undefined => {
    // A route on every method (@All) has its HTTP method appended to the id.
    if (!operationId) return undefined;
    const route = routes.get(operationId) ?? routes.get(operationId.replace(/_(get|post|put|delete|patch|options|head|search|query)$/, ''));
    const controller = route && controllers.get(route.controller);
    if (!route || !controller) return undefined;
    const handler = (controller.prototype as Record<string, unknown>)[route.method];
    return typeof handler === 'function' ? routeAccess(reflector, handler as () => unknown, controller) : undefined;
  };
  const errorSchema = document.components?.schemas?.ErrorResponseDto ? { $ref: '#/components/schemas/ErrorResponseDto' } : undefined;

  for (const operations of Object.values(document.paths)) {
    for (const method of ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const) {
      const operation = operations[method];
      const access = operation && accessOf(operation.operationId);
      if (!operation || !access || access.kind === 'public') continue;
      const statement = access.kind === 'roles' ? `${ACCESS_PREFIX}${access.roles.join(', ')}.` : SIGNED_IN;
      operation.description = operation.description ? `${operation.description}\n\n${statement}` : statement;
      if (access.kind !== 'roles') continue;
      // Responses declared on a controller are one object shared by its operations: each gets its own copy.
      const forbidden = operation.responses['403'] as { description?: string } | undefined;
      const message = rolesRequiredMessage(access.roles);
      operation.responses = {
        ...operation.responses,
        '403': forbidden
          ? { ...forbidden, description: forbiddenDescription(message, forbidden.description) }
          : { description: message, ...(errorSchema ? { content: { 'application/json': { schema: errorSchema } } } : {}) },
      };
    }
  }
}

/**
 * The 403's description with the guard's message in place of a generic "Role not allowed"; what the route adds
 * (another reason for a 403, who may do what) is kept after it.
 */
function forbiddenDescription(message: string, written: string | undefined): string {
  const rest = (written ?? '').trim().replace(/^(Role not allowed|Forbidden)\b[\s,.;:]*/i, '');
  if (!rest) return message;
  if (rest.startsWith('(')) return `${message} ${rest}`;
  if (/^or\s/i.test(rest)) return `${message}; ${rest}`;
  return `${message}. ${rest}`;
}
