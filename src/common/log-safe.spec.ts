import { describeError, quoteInput, safeLogText } from './log-safe.js';

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
