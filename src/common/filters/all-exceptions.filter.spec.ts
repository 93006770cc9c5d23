import { Logger } from '@nestjs/common';
import { vi } from 'vitest';
import { InvalidPhoneNumberError } from '../../phone/phone-number.service.js';
import { SmsInputError, SmsSendError } from '../../sms/sms-exceptions.js';
import { AllExceptionsFilter } from './all-exceptions.filter.js';

describe('AllExceptionsFilter', () => {
  afterEach(() => vi.restoreAllMocks());

  it('should log an unexpected error without letting its message forge a log line', () => {
    const logged = vi.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    const { body } = new AllExceptionsFilter().toBody(new Error('Unsupported locale "line1\n[Nest] LOG forged line2"'));
    expect(body).toEqual({ statusCode: 500, error: 'Internal Server Error', message: 'An unexpected error occurred' });
    const line = String(logged.mock.calls[0]?.[0]);
    expect(line.split('\n')[0]).toBe('Error: Unsupported locale "line1\\u000a[Nest] LOG forged line2"');
    expect(
      line
        .split('\n')
        .slice(1)
        .every((frame) => /^\s+at /.test(frame)),
    ).toBe(true);
  });

  it('should map the SMS and phone input errors of any module to 400 naming the field', () => {
    const filter = new AllExceptionsFilter();
    expect(filter.toBody(new SmsInputError('to', 'to: The number is too short.')).body).toEqual({
      statusCode: 400,
      error: 'Bad Request',
      message: 'to: The number is too short.',
      details: [{ field: 'to', problems: ['to: The number is too short.'] }],
    });
    expect(filter.toBody(new InvalidPhoneNumberError('06', 'TOO_SHORT', undefined, 'clientPhone')).body).toMatchObject({
      statusCode: 400,
      details: [{ field: 'clientPhone', problems: ['clientPhone: The number is too short.'] }],
    });
  });

  it("should map a provider failure to Twilio's status, code and hint in the caller's language", () => {
    const error = new SmsSendError(
      { kind: 'rejected', status: 429, code: 20429, message: 'Too many', retryAfterSeconds: 3 },
      'm1',
      '+33612345678',
    );
    const { body, headers } = new AllExceptionsFilter().toBody(error, { acceptLanguage: 'de, en;q=0.5' });
    expect(headers).toEqual({ 'Retry-After': '3' });
    expect(body).toMatchObject({ statusCode: 503, code: '20429', messageId: 'm1', hint: 'Retry after the delay given in Retry-After.' });
  });
});
