import { InputError, MappedError, type AnswerContext, type HttpAnswer, type InputAdvice } from '../common/errors/mapped-error.js';
import type { ProviderFailure } from './providers/sms-provider.js';
import { explainFailure, languageOf } from './failure-explanations.js';

/**
 * An input the SMS service refuses before any provider is called (bad number, template data, body):
 * 400 naming the field, from any controller (the app-wide filter maps it).
 */
export class SmsInputError extends InputError {
  constructor(field: string, message: string, allowed?: readonly string[], code?: string, advice?: InputAdvice) {
    super(field, message, allowed, code, advice);
    this.name = 'SmsInputError';
  }
}

/** Twilio's refusals of the 'To' number itself (invalid, unreachable by SMS, not a mobile): the answer names the field. */
const TO_NUMBER_REFUSED = new Set([21211, 21612, 21614]);

/**
 * The provider refused or never answered; the attempt is stored as `failed` under `messageId`.
 * Answers with Twilio's code, its more_info link, and a plain explanation and hint in the caller's language.
 */
export class SmsSendError extends MappedError {
  constructor(
    readonly failure: ProviderFailure,
    readonly messageId: string,
    readonly to: string,
  ) {
    super(failure.message);
    this.name = 'SmsSendError';
  }

  toHttp(context: AnswerContext): HttpAnswer {
    const explained = explainFailure(this.failure, languageOf(context.acceptLanguage));
    return {
      status: explained.httpStatus,
      headers: explained.retryAfterSeconds ? { 'Retry-After': String(explained.retryAfterSeconds) } : {},
      body: {
        message: explained.explanation,
        hint: explained.hint,
        code: explained.code,
        more_info: explained.moreInfo ?? null,
        ...(this.failure.kind === 'rejected' && TO_NUMBER_REFUSED.has(this.failure.code ?? 0)
          ? { details: [{ field: 'to', problems: [explained.explanation] }] }
          : {}),
        providerMessage: explained.providerMessage,
        messageId: this.messageId,
        to: this.to,
      },
    };
  }
}
