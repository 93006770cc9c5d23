import type { ProviderFailure } from './providers/sms-provider.js';

/** An input the SMS service refuses before any provider is called (bad number, template data, body). */
export class SmsInputError extends Error {
  constructor(
    /** The request field at fault, e.g. `to`, `message`, `data.date`, `recipients`. */
    readonly field: string,
    message: string,
    readonly allowed?: readonly string[],
  ) {
    super(message);
    this.name = 'SmsInputError';
  }
}

/** The provider refused or never answered; the attempt is stored as `failed` under `messageId`. */
export class SmsSendError extends Error {
  constructor(
    readonly failure: ProviderFailure,
    readonly messageId: string,
    readonly to: string,
  ) {
    super(failure.message);
    this.name = 'SmsSendError';
  }
}
