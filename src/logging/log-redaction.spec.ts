import { AppConfig } from '../config/app-config.js';
import { createRootLogger, pinoLevelFor } from './app-logger.js';
import { safeErrorText } from './log-redaction.js';

function capture() {
  const lines: string[] = [];
  const config = AppConfig.fromEnvironment({ NODE_ENV: 'test', LOG_LEVEL: 'debug' });
  const logger = createRootLogger(config, { destination: { write: (line: string) => void lines.push(line) } });
  return { logger, lines, parsed: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>) };
}

describe('the log redaction safety net', () => {
  it('masks phone numbers under the usual keys, at the top and nested', () => {
    const { logger, parsed } = capture();
    logger.info({ to: '+33612345678', sms: { phone: '0612345678', from: 'MyClinic' }, deep: { a: { clientPhone: '+14155550123' } } }, 'x');
    const [line] = parsed();
    expect(line.to).toBe('+33 6 ** ** ** 78');
    expect(line.sms).toEqual({ phone: '06******78', from: 'MyClinic' });
    expect(line.deep).toEqual({ a: { clientPhone: '+1 4** *** **23' } });
  });

  it('never writes bodies, passwords, tokens, cookies, Authorization or Twilio credentials', () => {
    const { logger, lines } = capture();
    logger.info(
      {
        body: 'the message text',
        password: 'hunter2-hunter2',
        req: { headers: { authorization: 'Bearer abc.def.ghi', cookie: 'sid=s3cr3t' } },
        twilio: { authToken: 'tw-auth-token-1234', accountSid: 'AC' + 'f'.repeat(32) },
        user: { token: 'jwt-token-value', access_token: 'access-token-value' },
      },
      'x',
    );
    const text = lines.join('');
    for (const secret of [
      'the message text',
      'hunter2',
      'abc.def.ghi',
      's3cr3t',
      'tw-auth-token',
      'f'.repeat(32),
      'jwt-token-value',
      'access-token-value',
    ]) {
      expect(text).not.toContain(secret);
    }
    expect(text).toContain('[redacted]');
  });

  it('masks numbers in every message and its interpolated values', () => {
    const { logger, parsed } = capture();
    logger.warn('SMS to +33612345678 failed');
    logger.warn('SMS to %s failed at %s', '06 12 34 56 78', '2030-01-15T14:30:00.000Z');
    const [first, second] = parsed();
    expect(first.msg).toBe('SMS to +33 6 ** ** ** 78 failed');
    expect(second.msg).toBe('SMS to 06 ** ** ** 78 failed at 2030-01-15T14:30:00.000Z');
  });

  it('logs an error by its type, code and masked message, never its other properties (an SDK error holds the request)', () => {
    const { logger, lines, parsed } = capture();
    const error = Object.assign(new Error("The 'To' number +15005550001 is not valid\nforged line"), {
      code: 21211,
      status: 400,
      config: { auth: { username: 'AC' + '1'.repeat(32), password: 'twilio-auth-token' } },
    });
    logger.error({ err: error }, 'send failed');
    const [line] = parsed();
    expect(line.err).toMatchObject({
      type: 'Error',
      code: 21211,
      status: 400,
      message: "The 'To' number +1 5** *** **01 is not valid\\u000aforged line",
    });
    expect(lines.join('')).not.toContain('twilio-auth-token');
    expect(lines.join('')).not.toContain('5005550001');
  });

  it('serializes a request as method, masked URL and route only', () => {
    const { logger, parsed } = capture();
    logger.info({
      req: {
        method: 'DELETE',
        url: '/api/sms/opt-outs/%2B33612345678?token=abc&limit=1',
        routeOptions: { url: '/api/sms/opt-outs/:phone' },
        headers: { authorization: 'Bearer x' },
        body: { password: 'p' },
      },
    });
    expect(parsed()[0].req).toEqual({
      method: 'DELETE',
      url: '/api/sms/opt-outs/+33 6 ** ** ** 78?token=[redacted]&limit=1',
      route: '/api/sms/opt-outs/:phone',
    });
  });

  it('masks numbers written with Unicode spaces, other digits and other separators, in messages, errors and URLs', () => {
    const { logger, lines, parsed } = capture();
    const fullWidth = '０６１２３４５６７８';
    const arabicIndic = '٠٦١٢٣٤٥٦٧٨';
    logger.warn('SMS to 06\u00a012\u00a034\u00a056\u00a078 failed, then to %s and %s', fullWidth, arabicIndic);
    logger.warn({ context: 'X' }, 'opt-out of 06/12/34/56/78, 06_12_34_56_78, (06) 12-34-56-78 and +33 (0)6 12 34 56 78');
    logger.error({ err: new Error('Twilio refused\n+33\u202f6\u202f12\u202f34\u202f56\u202f78') }, 'send failed');
    logger.info({
      req: { method: 'GET', url: '/api/sms/opt-outs?phone=06%C2%A012%C2%A034%C2%A056%C2%A078', routeOptions: { url: '/api/sms/opt-outs' } },
    });
    logger.info({
      req: {
        method: 'DELETE',
        url: '/api/sms/opt-outs/%EF%BC%90%EF%BC%96%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96%EF%BC%97%EF%BC%98',
      },
    });
    const [first, second, third, fourth, fifth] = parsed();
    expect(first.msg).toBe(`SMS to 06\u00a0**\u00a0**\u00a0**\u00a078 failed, then to ０６******７８ and ٠٦******٧٨`);
    expect(second.msg).toBe('opt-out of 06/**/**/**/78, 06_**_**_**_78, (06) **-**-**-78 and +33 6 ** ** ** 78');
    expect(third.err).toMatchObject({ message: 'Twilio refused\\u000a+33 6 ** ** ** 78' });
    expect(fourth.req).toEqual({
      method: 'GET',
      url: '/api/sms/opt-outs?phone=06\u00a0**\u00a0**\u00a0**\u00a078',
      route: '/api/sms/opt-outs',
    });
    expect(fifth.req).toMatchObject({ url: '/api/sms/opt-outs/０６******７８' });
    const text = lines.join('');
    for (const clear of ['12\u00a034', '12 34', '１２３４', '١٢٣٤', '12/34', '12_34', '12-34', '12\u202f34'])
      expect(text).not.toContain(clear);
  });

  it('an error logged without a message gets its masked text as the message, not its raw one; a context with digits is masked', () => {
    const { logger, lines, parsed } = capture();
    const error = () => new Error("The 'To' number +33612345678 is not a valid phone number.");
    logger.error(error());
    logger.error({ err: error() });
    logger.error({ context: 'Error: The number 06 12 34 56 78 was refused\n    at x (y.js:1:1)' }, 'Dispatch failed');
    const [bare, wrapped, withContext] = parsed();
    expect(bare.msg).toBe("The 'To' number +33 6 ** ** ** 78 is not a valid phone number.");
    expect(wrapped.msg).toBe(bare.msg);
    expect(bare.err).toMatchObject({ type: 'Error', message: bare.msg });
    expect(withContext.context).toContain('06 ** ** ** 78');
    expect(lines.join('')).not.toMatch(/12345678|12 34 56/);
  });

  it('maps LOG_LEVEL and Nest level lists to pino levels', () => {
    expect(
      createRootLogger(AppConfig.fromEnvironment({ NODE_ENV: 'test', LOG_LEVEL: 'log' }), { destination: { write: () => undefined } })
        .level,
    ).toBe('info');
    expect(
      createRootLogger(AppConfig.fromEnvironment({ NODE_ENV: 'test', LOG_LEVEL: 'verbose' }), { destination: { write: () => undefined } })
        .level,
    ).toBe('trace');
    expect(pinoLevelFor(['fatal'])).toBe('fatal');
    expect(pinoLevelFor(['fatal', 'error', 'warn', 'log'])).toBe('info');
    expect(pinoLevelFor(false)).toBe('silent');
  });
});

describe('safeErrorText (what main.ts prints when the start or the shutdown fails)', () => {
  it("masks numbers in an error's message as the logger does", () => {
    expect(safeErrorText(new Error("The 'From' number +33612345678 is not a valid phone number"))).toBe(
      "The 'From' number +33 6 ** ** ** 78 is not a valid phone number",
    );
    expect(safeErrorText('connect to 06 12 34 56 78 refused')).toBe('connect to 06 ** ** ** 78 refused');
  });

  it('keeps the message on one line, whatever it holds', () => {
    expect(safeErrorText(new Error('first line\nforged line'))).toBe('first line\\u000aforged line');
  });

  it('keeps a long message whole (a configuration error lists every problem)', () => {
    const long = 'problem; '.repeat(400);
    expect(safeErrorText(new Error(long))).toBe(long);
  });
});
