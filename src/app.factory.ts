import helmet from '@fastify/helmet';
import { LogLevel, Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { AppModule } from './app.module.js';
import { setDateOnlyTimeZone } from './common/dto/iso-date.js';
import { AllExceptionsFilter } from './common/filters/all-exceptions.filter.js';
import { installInputGuards } from './common/http/input-hooks.js';
import { createValidationPipe } from './common/validation.js';
import type { AppConfigOptions } from './config/config.module.js';
import { loadConfigFromProcess } from './config/process-config.js';

const LEVELS: LogLevel[] = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'];

export interface CreateAppOptions extends AppConfigOptions {
  /** Nest logger levels; tests keep it quiet. */
  logger?: LogLevel[] | false;
}

/**
 * Builds the whole application as it runs in production: main.ts and the end-to-end tests both
 * call this, so tests exercise the same pipes, filters, guards and plugins.
 */
export async function createApp(options: CreateAppOptions = {}): Promise<NestFastifyApplication> {
  // The environment is validated here, once: the adapter needs it before Nest exists, and the
  // same AppConfig instance (with its one generated JWT secret, if any) is what every module injects.
  const config = options.config ?? loadConfigFromProcess({ overrides: options.overrides, ignoreEnvFile: options.ignoreEnvFile });
  const adapter = new FastifyAdapter({ bodyLimit: config.bodyLimitBytes, trustProxy: config.trustProxy });
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot({ config }), adapter, {
    // LOG_LEVEL applies from the first line of the boot, since the config is known before Nest starts.
    logger: options.logger ?? LEVELS.slice(0, LEVELS.indexOf(config.logLevel) + 1),
    bufferLogs: false,
    abortOnError: false,
  });

  app.setGlobalPrefix('api');
  installInputGuards(app, config);
  setDateOnlyTimeZone(config.defaultTimeZone);
  app.useGlobalPipes(createValidationPipe());
  app.useGlobalFilters(new AllExceptionsFilter());

  await app.register(helmet, {
    // Swagger UI needs inline scripts and styles; everything else keeps helmet's defaults.
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:', 'validator.swagger.io'],
        scriptSrc: ["'self'", "'unsafe-inline'"],
        // The service is often reached over plain http (local runs, an internal host): upgrading
        // Swagger UI's asset requests to https would break the page.
        upgradeInsecureRequests: null,
      },
    },
  });

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
      .addTag('health', 'Liveness')
      .build(),
  );
  SwaggerModule.setup('api/docs', app, document, {
    jsonDocumentUrl: 'api/docs-json',
    customSiteTitle: 'SMS backbone API',
    swaggerOptions: { persistAuthorization: true, tryItOutEnabled: true },
  });

  if (config.jwt.secretGenerated) {
    new Logger('Config').warn('JWT_SECRET is not set: using a random secret for this run (tokens end when the process stops)');
  }
  return app;
}
