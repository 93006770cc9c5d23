import { preferredLanguage } from '../i18n/accept-language.js';

/** What an error that knows its HTTP meaning answers with. */
export interface HttpAnswer {
  status: number;
  body: Record<string, unknown>;
  headers?: Record<string, string>;
}

/** The parts of the request an error may need to answer (the caller's language). */
export interface AnswerContext {
  acceptLanguage?: string | string[];
}

/**
 * A domain error that says itself how it reaches an HTTP caller. The app-wide filter
 * (AllExceptionsFilter) maps every one of them, whichever module's controller let it through.
 */
export abstract class MappedError extends Error {
  abstract toHttp(context: AnswerContext): HttpAnswer;
}

/** What a refused input means and what to do, in each language the API answers in (French first). */
export interface InputAdvice {
  fr: { explanation: string; hint: string };
  en: { explanation: string; hint: string };
}

const ADVICE_LANGUAGES = ['fr', 'en'] as const;

/** An input refused by a service (bad number, template data, message): 400 naming the field. */
export class InputError extends MappedError {
  constructor(
    /** The request field at fault, e.g. `to`, `message`, `data.date`, `recipients`, `locale`. */
    readonly field: string,
    message: string,
    /** The accepted values, when there is a short list of them. */
    readonly allowed?: readonly string[],
    /** A code to act on, when there is one (a refused number's problem: `TOO_SHORT`…). */
    readonly code?: string,
    /** Plain words for the caller, answered in its language (`Accept-Language`, French otherwise) beside `message`. */
    readonly advice?: InputAdvice,
  ) {
    super(message);
    this.name = 'InputError';
  }

  toHttp(context: AnswerContext = {}): HttpAnswer {
    const advice = this.advice?.[preferredLanguage(context.acceptLanguage, ADVICE_LANGUAGES, 'fr')];
    return {
      status: 400,
      body: {
        message: this.message,
        details: [{ field: this.field, problems: [this.message] }],
        ...(this.allowed ? { allowed: this.allowed } : {}),
        ...(this.code ? { code: this.code } : {}),
        ...(advice ? { explanation: advice.explanation, hint: advice.hint } : {}),
      },
    };
  }
}
