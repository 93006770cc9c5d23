import { describeError, maskPhone, maskPhonesInText, quoteInput, safeLogText, safeUrlForLog } from './log-safe.js';

describe('log-safe', () => {
  it('should keep a caller value on one line (no forged log line)', () => {
    const forged = 'fr\n[Nest] 1  - 01/01/2030 LOG [Auth] admin signed in\r\u2028x';
    expect(safeLogText(forged)).not.toMatch(/[\n\r\u2028]/);
    expect(safeLogText(forged)).toContain('\\u000a[Nest]');
    expect(quoteInput('line1\nline2')).toBe('"line1\\nline2"');
  });

  it('should escape unpaired surrogates and NUL but keep emoji', () => {
    expect(safeLogText('a\ud800b\u0000c😀')).toBe('a\\ud800b\\u0000c😀');
  });

  it('should shorten long values', () => {
    expect(quoteInput('x'.repeat(500)).length).toBeLessThan(80);
  });

  it('should log an error as one escaped message line and its stack frames', () => {
    const error = new TypeError('Unsupported "a\nFAKE LINE"');
    const lines = describeError(error).split('\n');
    expect(lines[0]).toBe('TypeError: Unsupported "a\\u000aFAKE LINE"');
    expect(lines.slice(1).every((line) => /^\s+at /.test(line))).toBe(true);
    expect(describeError('x\ny')).toBe('x\\u000ay');
  });
});

describe('maskPhone', () => {
  it.each([
    ['+33612345678', '+33 6 ** ** ** 78'],
    ['+33 6 12 34 56 78', '+33 6 ** ** ** 78'],
    ['+14155550123', '+1 4** *** **23'],
    ['+447700900123', '+44 7*** ****23'],
    ['0612345678', '06******78'],
    ['06 12 34 56 78', '06 ** ** ** 78'],
    ['+999123456789', '+99********89'],
    ['12', '**'],
    ['MyClinic', 'MyClinic'],
  ])('masks %j as %j', (input, masked) => {
    expect(maskPhone(input)).toBe(masked);
  });

  it('finds numbers in text, leaving dates, times and short numbers alone', () => {
    expect(maskPhonesInText('to +33612345678 and 06.12.34.56.78 on 2030-01-15 at 14:30, code 481516')).toBe(
      'to +33 6 ** ** ** 78 and 06.**.**.**.78 on 2030-01-15 at 14:30, code 481516',
    );
    expect(maskPhonesInText('appointment 3f2b1c9e-1234-4abc-8def-0123456789ab')).toBe('appointment 3f2b1c9e-1234-4abc-8def-0123456789ab');
  });

  it('makes a URL safe for the log', () => {
    expect(safeUrlForLog('/api/sms/messages?phone=%2B33612345678&limit=5')).toBe('/api/sms/messages?phone=+33 6 ** ** ** 78&limit=5');
    expect(safeUrlForLog('/x?password=p&api_key=k&ok=1')).toBe('/x?password=[redacted]&api_key=[redacted]&ok=1');
    expect(safeUrlForLog('/api/sms/opt-outs/+33612345678?phone=+33612345679')).toBe(
      '/api/sms/opt-outs/+33 6 ** ** ** 78?phone= 33*******79',
    );
    expect(safeUrlForLog('/x/%E0%A4%A?a=1\n')).toBe('/x/%E0%A4%A?a=1\\u000a');
  });
});
