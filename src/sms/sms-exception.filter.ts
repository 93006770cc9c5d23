import { ArgumentsHost, Catch, ExceptionFilter, HttpStatus } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { STATUS_CODES } from 'node:http';
import { explainFailure, languageOf } from './failure-explanations.js';
import { SmsInputError, SmsSendError } from './sms-exceptions.js';

/**
 * SMS errors in the common error shape: bad input → 400 naming the field; a provider failure →
 * Twilio's code, its more_info link, and a plain explanation and hint in the caller's language.
 */
@Catch(SmsInputError, SmsSendError)
export class SmsExceptionFilter implements ExceptionFilter {
  catch(error: SmsInputError | SmsSendError, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const reply = http.getResponse<FastifyReply>();
    if (error instanceof SmsInputError) {
      void reply.status(HttpStatus.BAD_REQUEST).send({
        statusCode: HttpStatus.BAD_REQUEST,
        error: STATUS_CODES[HttpStatus.BAD_REQUEST],
        message: error.message,
        details: [{ field: error.field, problems: [error.message] }],
        ...(error.allowed ? { allowed: error.allowed } : {}),
      });
      return;
    }
    const lang = languageOf(http.getRequest<FastifyRequest>().headers['accept-language']);
    const explained = explainFailure(error.failure, lang);
    if (explained.retryAfterSeconds) void reply.header('Retry-After', String(explained.retryAfterSeconds));
    void reply.status(explained.httpStatus).send({
      statusCode: explained.httpStatus,
      error: STATUS_CODES[explained.httpStatus],
      message: explained.explanation,
      hint: explained.hint,
      code: explained.code,
      more_info: explained.moreInfo ?? null,
      providerMessage: explained.providerMessage,
      messageId: error.messageId,
      to: error.to,
    });
  }
}
