import { ArgumentsHost, Catch, ExceptionFilter, HttpException, HttpStatus, Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { STATUS_CODES } from 'node:http';
import { databaseUnavailability, type DatabaseUnavailability } from '../../database/database-errors.js';
import { MappedError, type AnswerContext } from '../errors/mapped-error.js';
import { UNSUPPORTED_MEDIA_TYPE } from '../http/form-body.decorator.js';
import { describeError } from '../log-safe.js';
import { wrongMethod } from '../http/wrong-method.js';

/** The one error body every route answers with. */
export interface ErrorBody {
  statusCode: number;
  error: string;
  message: string;
  /** Validation errors: one entry per field. */
  details?: { field: string; problems: string[] }[];
  /** Twilio errors (SMS routes): Twilio's code, link and a hint. */
  [extra: string]: unknown;
}

/** Seconds a client is asked to wait before trying again when the database is unavailable (503). */
export const DATABASE_RETRY_AFTER_SECONDS = 5;

/** Errors Fastify raises itself (body parsing, body size) carry a 4xx statusCode. */
interface FastifyLikeError {
  statusCode?: number;
  code?: string;
  message?: string;
}

/**
 * Turns every error into `{statusCode, error, message}`, for every controller of every module. Known
 * HTTP errors keep their text; domain errors ({@link MappedError}: SMS input and send errors, phone
 * numbers, template data) answer what they say; a database that is unavailable or busy (lost or refused connection,
 * query timeout, PostgreSQL shutting down, SQLite locked or full: database-errors.ts) answers 503 with Retry-After
 * (nothing was stored: retry), or 504 when a write's answer was lost (it may have been stored: check before retrying),
 * logged with its code only; anything else is logged (escaped, one line plus its stack frames) and answered as a bare
 * 500 without its stack, SQL or secrets.
 */
@Catch()
export class AllExceptionsFilter implements ExceptionFilter {
  private readonly logger = new Logger('Errors');

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const reply = http.getResponse<FastifyReply>();
    const request = http.getRequest<FastifyRequest | undefined>();
    const acceptLanguage = request?.headers?.['accept-language'];
    const { body, headers } = this.toBody(wrongMethod(exception, request) ?? exception, { acceptLanguage });
    for (const [name, value] of Object.entries(headers)) void reply.header(name, value);
    void reply.status(body.statusCode).send(body);
  }

  toBody(exception: unknown, context: AnswerContext = {}): { body: ErrorBody; headers: Record<string, string> } {
    // Nest wraps Fastify's own 4xx errors (a bad Content-Type, an empty or too large body) in an HttpException
    // with the error as its cause: answered from the cause, in plain words (fastifyMessage).
    const cause: unknown = exception instanceof HttpException ? exception.cause : undefined;
    if (typeof (cause as FastifyLikeError | undefined)?.code === 'string' && String((cause as FastifyLikeError).code).startsWith('FST_')) {
      exception = cause;
    }
    if (exception instanceof MappedError) {
      const answer = exception.toHttp(context);
      const status = answer.status;
      return {
        body: { statusCode: status, error: STATUS_CODES[status] ?? 'Error', message: exception.message, ...answer.body } as ErrorBody,
        headers: answer.headers ?? {},
      };
    }
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const response = exception.getResponse();
      const base = { statusCode: status, error: STATUS_CODES[status] ?? 'Error' };
      if (typeof response === 'string') return { body: { ...base, message: response }, headers: {} };
      const { headers, ...rest } = response as Record<string, unknown> & { headers?: Record<string, string> };
      const message = Array.isArray(rest.message) ? rest.message.join('; ') : String(rest.message ?? base.error);
      return { body: { ...base, ...rest, statusCode: status, error: base.error, message } as ErrorBody, headers: headers ?? {} };
    }
    const fastifyError = exception as FastifyLikeError;
    if (fastifyError && typeof fastifyError.statusCode === 'number' && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
      const status = fastifyError.statusCode;
      return {
        body: { statusCode: status, error: STATUS_CODES[status] ?? 'Error', message: this.fastifyMessage(fastifyError) },
        headers: {},
      };
    }
    const unavailable = databaseUnavailability(exception);
    if (unavailable) return this.databaseAnswer(unavailable);
    this.logger.error(describeError(exception));
    return {
      body: { statusCode: HttpStatus.INTERNAL_SERVER_ERROR, error: 'Internal Server Error', message: 'An unexpected error occurred' },
      headers: {},
    };
  }

  /** 504 when a write may have been stored (check before retrying), else 503 with Retry-After (nothing was stored). */
  private databaseAnswer({ reason, mayHaveStored }: DatabaseUnavailability): { body: ErrorBody; headers: Record<string, string> } {
    if (mayHaveStored) {
      this.logger.error(`Database did not answer a write (${reason}): answered 504, it may have been stored`);
      const message = `The database did not answer (${reason}): what this request writes may have been stored. Check before retrying (a send: GET /api/sms/messages)`;
      return { body: { statusCode: HttpStatus.GATEWAY_TIMEOUT, error: 'Gateway Timeout', message }, headers: {} };
    }
    this.logger.error(`Database unavailable (${reason}): answered 503`);
    const message = `The database is unavailable or busy (${reason}); try again in a few seconds`;
    return {
      body: { statusCode: HttpStatus.SERVICE_UNAVAILABLE, error: 'Service Unavailable', message },
      headers: { 'Retry-After': String(DATABASE_RETRY_AFTER_SECONDS) },
    };
  }

  private fastifyMessage(error: FastifyLikeError): string {
    switch (error.code) {
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        return 'Request body is too large';
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
        return UNSUPPORTED_MEDIA_TYPE;
      case 'FST_ERR_CTP_EMPTY_JSON_BODY':
        return 'Body cannot be empty when Content-Type is application/json';
      default:
        if (error instanceof SyntaxError || /JSON/i.test(error.message ?? '')) return 'Malformed JSON in request body';
        return error.message ?? 'Bad request';
    }
  }
}
