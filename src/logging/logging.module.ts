import { Module } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import { LOGGER_MODULE_PARAMS } from './app-logger.js';

/**
 * nestjs-pino's request context: a middleware binds each request's logger (Fastify's child of the
 * app's pino logger, carrying `requestId`) for the lines written while the request runs. The logger
 * itself is built in createApp (see app-logger.ts), before Nest, so boot lines are JSON too.
 */
@Module({ imports: [LoggerModule.forRoot(LOGGER_MODULE_PARAMS)] })
export class LoggingModule {}
