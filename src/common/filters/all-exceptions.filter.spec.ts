import { Logger } from '@nestjs/common';
import { vi } from 'vitest';
import { QueryFailedError } from 'typeorm';
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

  it('should answer 503 with Retry-After when the database is unavailable, logging its code and never the statement', () => {
    const logged = vi.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    const busy = Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });
    const error = new QueryFailedError('UPDATE users SET email = ? WHERE id = ?', ['secret@example.test', 'u1'], busy);
    const { body, headers } = new AllExceptionsFilter().toBody(error);
    expect(body).toEqual({
      statusCode: 503,
      error: 'Service Unavailable',
      message: 'The database is unavailable or busy (SQLITE_BUSY); try again in a few seconds',
    });
    expect(headers).toEqual({ 'Retry-After': '5' });
    expect(logged.mock.calls.map(([line]) => String(line))).toEqual(['Database unavailable (SQLITE_BUSY): answered 503']);
  });

  it('should answer 504 when a write may have been stored (its answer lost), without Retry-After', () => {
    const logged = vi.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    // As BoundedPgClient marks an autocommitted write whose answer was lost.
    const lost = Object.assign(new Error('Connection terminated unexpectedly'), { mayHaveStored: true });
    const error = new QueryFailedError('INSERT INTO "sms_messages" ("to") VALUES ($1)', ['+33612345678'], lost);
    const { body, headers } = new AllExceptionsFilter().toBody(error);
    expect(body).toEqual({
      statusCode: 504,
      error: 'Gateway Timeout',
      message:
        'The database did not answer (connection lost): what this request writes may have been stored. Check before retrying (a send: GET /api/sms/messages)',
    });
    expect(headers).toEqual({});
    expect(logged.mock.calls.map(([line]) => String(line))).toEqual([
      'Database did not answer a write (connection lost): answered 504, it may have been stored',
    ]);
  });
});
