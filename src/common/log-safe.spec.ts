import { describeError, maskEmailsInText, maskPhone, maskPhonesInText, quoteInput, safeLogText, safeUrlForLog } from './log-safe.js';

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
    expect(safeUrlForLog('/x?password=p&api_key=k&limit=1')).toBe('/x?password=[redacted]&api_key=[redacted]&limit=1');
    // A parameter no route documents (refused with a 400 anyway): its value never reaches the log, whatever it holds.
    expect(safeUrlForLog('/api/sms/messages?jwt=eyJhbGciOiJIUzI1NiJ9.e30.sig&message=Bonjour+Jean&status=sent')).toBe(
      '/api/sms/messages?jwt=[redacted]&message=[redacted]&status=sent',
    );
    expect(safeUrlForLog('/api/sms/opt-outs/+33612345678?phone=+33612345679')).toBe(
      '/api/sms/opt-outs/+33 6 ** ** ** 78?phone=33*******79',
    );
    // A value named as a number is masked whatever its shape (8 digits, an extension, brackets, many separators).
    for (const [phone, masked] of [
      ['20123456', '20****56'],
      ['0612345678x12', '06********x12'],
      ['[06]12345678', '[06]******78'],
      ['06++++++12345678', '06++++++******78'],
    ])
      expect(safeUrlForLog(`/api/sms/opt-outs?Phone=${encodeURIComponent(phone)}&to=${encodeURIComponent(phone)}`)).toBe(
        `/api/sms/opt-outs?Phone=${masked}&to=${masked}`,
      );
    expect(safeUrlForLog('/api/sms/opt-outs/20123456', '/api/sms/opt-outs/:phone')).toBe('/api/sms/opt-outs/20****56');
    // With a trailing slash (the route answers it too).
    expect(safeUrlForLog('/api/sms/opt-outs/20123456/', '/api/sms/opt-outs/:phone')).toBe('/api/sms/opt-outs/20****56/');
    // A date whose offset's + arrived as a space stays a date.
    expect(safeUrlForLog('/api/audit?from=2030-01-15T10:00:00+01:00')).toBe('/api/audit?from=2030-01-15T10:00:00 01:00');
    expect(safeUrlForLog('/api/sms/opt-outs/0612345678.json', '/api/sms/opt-outs/:phone')).toBe('/api/sms/opt-outs/06******78.json');
    expect(safeUrlForLog('/api/appointments/20123456', '/api/appointments/:id')).toBe('/api/appointments/20123456');
    // An encoded `/` stays in its segment, as the router reads it.
    expect(safeUrlForLog('/api/sms/opt-outs/20%2F123456', '/api/sms/opt-outs/:phone')).toBe('/api/sms/opt-outs/20/****56');
    // `from` and `to` are date filters too: dates stay readable.
    expect(safeUrlForLog('/api/audit?from=2030-01-15T00:00:00Z&to=2030-01-16&to=0612345678')).toBe(
      '/api/audit?from=2030-01-15T00:00:00Z&to=2030-01-16&to=06******78',
    );
    expect(safeUrlForLog('/x/%E0%A4%A?page=1\n')).toBe('/x/%E0%A4%A?page=1\\u000a');
    expect(safeUrlForLog('/api/audit?actor=agent%40example.fr&limit=5')).toBe('/api/audit?actor=a***@example.fr&limit=5');
    expect(safeUrlForLog('/api/audit?actor=z%C3%B6e.m%2B1@cabinet-dupont.co.uk')).toBe('/api/audit?actor=z***@cabinet-dupont.co.uk');
  });

  it('masks email addresses in text to their first character and domain', () => {
    expect(maskEmailsInText('by agent@example.fr and Élodie.B@mail.example.com.')).toBe('by a***@example.fr and É***@mail.example.com.');
    expect(maskEmailsInText('no address @ here, nor a@b')).toBe('no address @ here, nor a@b');
    // A domain without a dot: the default superadmin's address, an intranet's.
    expect(maskEmailsInText('/api/audit?actor=admin@localhost&limit=1')).toBe('/api/audit?actor=a***@localhost&limit=1');
  });
});

/** Writes digits in another script: `toScript('06', 0xff10)` → `０６` (full-width), 0x0660 → Arabic-Indic. */
const toScript = (text: string, zero: number) => text.replace(/[0-9]/g, (d) => String.fromCodePoint(zero + Number(d)));
const FULL_WIDTH = 0xff10;
const ARABIC_INDIC = 0x0660;

describe('maskPhone with any digits', () => {
  it.each([
    [toScript('0612345678', FULL_WIDTH), toScript('06******78', FULL_WIDTH)],
    [toScript('0612345678', ARABIC_INDIC), toScript('06******78', ARABIC_INDIC)],
    [toScript('06 12 34 56 78', 0x06f0), toScript('06 ** ** ** 78', 0x06f0)], // Eastern Arabic-Indic (Persian)
    ['\uff0b' + toScript('33612345678', FULL_WIDTH), '+33 6 ** ** ** 78'],
    ['+' + toScript('33612345678', ARABIC_INDIC), '+33 6 ** ** ** 78'],
    ['+33\u00a06\u00a012\u00a034\u00a056\u00a078', '+33 6 ** ** ** 78'],
    ['+33 (0)6 12 34 56 78', '+33 6 ** ** ** 78'],
    ['06/12/34/56/78', '06/**/**/**/78'],
    ['%2B33612345678', '%2B33*******78'],
    [33612345678, '33*******78'],
    [toScript('12', FULL_WIDTH), '**'],
  ])('masks %j as %j', (input, masked) => {
    expect(maskPhone(input)).toBe(masked);
  });

  it("never lets libphonenumber's reading of part of the text stand for all of it", () => {
    // libphonenumber finds +33612345678 in this text; the second number must not be dropped or left in clear.
    expect(maskPhone('+33612345678 / 0698765432')).toBe('+33********* / ********32');
  });
});

describe('maskPhonesInText', () => {
  it.each([
    [
      'no-break spaces (U+00A0, French formatting)',
      'to 06\u00a012\u00a034\u00a056\u00a078 now',
      'to 06\u00a0**\u00a0**\u00a0**\u00a078 now',
    ],
    ['narrow no-break spaces (U+202F)', 'to 06\u202f12\u202f34\u202f56\u202f78', 'to 06\u202f**\u202f**\u202f**\u202f78'],
    ['other Unicode spaces (U+2009, U+3000)', 'to 06\u200912\u300034 56 78', 'to 06\u2009**\u3000** ** 78'],
    ['full-width digits', `to ${toScript('0612345678', FULL_WIDTH)}`, `to ${toScript('06******78', FULL_WIDTH)}`],
    ['Arabic-Indic digits', `to ${toScript('0612345678', ARABIC_INDIC)}`, `to ${toScript('06******78', ARABIC_INDIC)}`],
    ['Devanagari digits', `to ${toScript('0612345678', 0x0966)}`, `to ${toScript('06******78', 0x0966)}`],
    ['mathematical digits (outside the BMP)', `to ${toScript('0612345678', 0x1d7ce)}`, `to ${toScript('06******78', 0x1d7ce)}`],
    ['full-width plus and digits', `to \uff0b${toScript('33612345678', FULL_WIDTH)}`, 'to +33 6 ** ** ** 78'],
    ['slashes', 'to 06/12/34/56/78', 'to 06/**/**/**/78'],
    ['underscores', 'to 06_12_34_56_78', 'to 06_**_**_**_78'],
    ['brackets and dashes', 'to (06) 12-34-56-78', 'to (06) **-**-**-78'],
    ['the trunk prefix in brackets', 'to +33 (0)6 12 34 56 78', 'to +33 6 ** ** ** 78'],
    ['no-break spaces after +', 'to +33\u00a06\u00a012\u00a034\u00a056\u00a078', 'to +33 6 ** ** ** 78'],
    ['the 00 international prefix', 'to 0033612345678', 'to 00*********78'],
    ['the 00 prefix with spaces', 'to 00 33 6 12 34 56 78', 'to 00 ** * ** ** ** 78'],
    ['en dashes and a non-breaking hyphen', 'to 06\u201312\u201334\u201156\u201378', 'to 06\u2013**\u2013**\u2011**\u201378'],
    ['spaced dashes', 'to 06 - 12 - 34 - 56 - 78', 'to 06 - ** - ** - ** - 78'],
    ['zero-width spaces', 'to +33\u200b6\u200b12345678', 'to +33 6 ** ** ** 78'],
    ['US formatting', 'to +1 (415) 555-0123 and 415.555.0123', 'to +1 4** *** **23 and 41*.***.**23'],
    ['a number right after a word and its digits', 'ref123 0612345678', 'ref123 06******78'],
    ['two numbers in a row', 'to 0612345678 0698765432', 'to 06******** ********32'],
    ['a number at the end of a sentence', 'Sent to 0612345678.', 'Sent to 06******78.'],
    ['a number after an escaped line break (safeLogText)', 'number\\u000a0612345678', 'number\\u000a06******78'],
    ['a number after an escaped line separator', 'number\\u2028+33612345678 x', 'number\\u2028+33 6 ** ** ** 78 x'],
    ['a raw URL: %2B', 'GET /x?phone=%2B33612345678', 'GET /x?phone=%2B33*******78'],
    [
      'a raw URL: encoded no-break spaces',
      'GET /x?phone=06%C2%A012%C2%A034%C2%A056%C2%A078',
      'GET /x?phone=06%C2%A0**%C2%A0**%C2%A0**%C2%A078',
    ],
    [
      'a raw URL: encoded narrow no-break spaces',
      '/x/06%E2%80%AF12%E2%80%AF34%E2%80%AF56%E2%80%AF78',
      '/x/06%E2%80%AF**%E2%80%AF**%E2%80%AF**%E2%80%AF78',
    ],
    ['a raw URL: encoded slashes', '/x/06%2F12%2F34%2F56%2F78', '/x/06%2F**%2F**%2F**%2F78'],
    ['a raw URL: a number right after an escape', '/x?a=%C20612345678', '/x?a=%C206******78'],
  ])('masks a number written with %s', (_, text, masked) => {
    expect(maskPhonesInText(text)).toBe(masked);
  });

  it.each([
    ['a UUID', 'appointment 3f2b1c9e-1234-4abc-8def-0123456789ab'],
    ['a UUID whose last group is all digits', 'appointment 3f2b1c9e-1234-4abc-8def-012345678901'],
    ['a UUID of digits only', 'batch 12345678-1234-4123-8123-123456789012'],
    ['an upper-case UUID', 'batch 7C9E6679-7425-40DE-944B-E07FC1F90AE7'],
    ['a message SID', 'SM0123456789abcdef0123456789abcdef delivered'],
    ['a message SID with a long run of digits', 'SMabcdef0123456789abcdef01234567 delivered'],
    ['an account SID', 'AC01234567890123456789abcdef0123'],
    ['a trace id', '4bf92f3577b34da6a3ce929d0e0e4736'],
    ['a trace id of digits only', 'trace 40920357701234567892912900104736'],
    ['an ISO timestamp', 'due at 2030-01-15T14:30:00.000Z'],
    ['a timestamp with a space', 'due at 2030-01-15 14:30:00'],
    ['a PostgreSQL timestamp', 'due at 2030-01-15 14:30:00.123456+00'],
    ['a French date and time', 'le 15/01/2030 14:30'],
    ['a time and a date', 'at 14:30 15/01/2030'],
    ['a range of dates', 'between 2030-01-15/2030-01-20 and 15.01.2030 - 20.01.2030'],
    ['counts', 'Reminder sweep: 12 appointment(s), 3 skipped, 1 234 567 sent, 1\u202f234\u202f567 queued'],
    ['durations', 'took 42.5 ms, 1234.56 ms, 12 345 ms'],
    ['codes and statuses', "code 21211, status 400, attempt 3/5: The 'To' number is not valid"],
    ['a long numeric id', 'snowflake 12345678901234567890'],
    ['an id with an underscore', 'msg_123456789012'],
    ['a name with digits', 'report-20300115-123456.csv'],
    ['short numbers', 'code 481516 and 12345678'],
    ['already masked numbers', 'to +33 6 ** ** ** 78 and 06******78'],
  ])('keeps %s readable', (_, text) => {
    expect(maskPhonesInText(text)).toBe(text);
  });

  it("masks the shortest international numbers (7 or 8 digits after a +) that libphonenumber finds possible, as in Twilio's messages", () => {
    expect(maskPhonesInText("The 'To' number +50051234 is not a valid phone number.")).toBe(
      "The 'To' number +500 5**34 is not a valid phone number.",
    );
    expect(maskPhonesInText('to +6834321, +2905123 and +290 51234')).toBe('to +683 4*21, +290 5*23 and +290 5**34');
    // Not possible numbers, or no +: left as they are.
    for (const text of ['took +1500000 ms', '+1234567 bytes', 'count 1234567', 'offset +0100']) expect(maskPhonesInText(text)).toBe(text);
  });

  it('keeps the text around a number glued to a word after it', () => {
    expect(maskPhonesInText('to 0612345678 12abc')).toBe('to 06******78 12abc');
    expect(maskPhonesInText('file 0612345678-abc')).toBe('file 0612345678-abc');
  });

  it('stays fast on text built to make a regular expression backtrack', () => {
    const texts = [
      '1 '.repeat(20_000) + 'x',
      '1-'.repeat(20_000) + 'a',
      ('12345678' + ' '.repeat(5)).repeat(3_000),
      '%2'.repeat(20_000) + '1',
      '\\u00'.repeat(10_000) + '9'.repeat(20),
      '+'.repeat(20_000) + '1',
      '1a'.repeat(20_000),
      `${'9'.repeat(40_000)} -`,
    ];
    const started = performance.now();
    for (const text of texts) maskPhonesInText(text);
    expect(performance.now() - started).toBeLessThan(2_000);
  });
});

describe('safeUrlForLog masks every way a URL writes a number', () => {
  const encodeDigits = (text: string, zero: number) => encodeURIComponent(toScript(text, zero));
  it.each([
    ['/api/sms/opt-outs?phone=06%C2%A012%C2%A034%C2%A056%C2%A078', '/api/sms/opt-outs?phone=06\u00a0**\u00a0**\u00a0**\u00a078'],
    [
      '/api/sms/opt-outs?phone=06%E2%80%AF12%E2%80%AF34%E2%80%AF56%E2%80%AF78',
      '/api/sms/opt-outs?phone=06\u202f**\u202f**\u202f**\u202f78',
    ],
    [`/api/sms/opt-outs?phone=${encodeDigits('0612345678', FULL_WIDTH)}`, `/api/sms/opt-outs?phone=${toScript('06******78', FULL_WIDTH)}`],
    [
      `/api/sms/opt-outs?phone=${encodeDigits('0612345678', ARABIC_INDIC)}`,
      `/api/sms/opt-outs?phone=${toScript('06******78', ARABIC_INDIC)}`,
    ],
    ['/api/sms/opt-outs?phone=06%2F12%2F34%2F56%2F78', '/api/sms/opt-outs?phone=06/**/**/**/78'],
    ['/api/sms/opt-outs?phone=06/12/34/56/78', '/api/sms/opt-outs?phone=06/**/**/**/78'],
    ['/api/sms/opt-outs?phone=06_12_34_56_78', '/api/sms/opt-outs?phone=06_**_**_**_78'],
    ['/api/sms/opt-outs?phone=(06)+12-34-56-78', '/api/sms/opt-outs?phone=(06) **-**-**-78'],
    ['/api/sms/opt-outs?phone=%2B33+(0)6+12+34+56+78', '/api/sms/opt-outs?phone=+33 6 ** ** ** 78'],
    ['/api/sms/opt-outs?phone=%2B33612345678', '/api/sms/opt-outs?phone=+33 6 ** ** ** 78'],
    ['/api/sms/opt-outs?phone=0033612345678', '/api/sms/opt-outs?phone=00*********78'],
    ['/api/sms/opt-outs/0612345678', '/api/sms/opt-outs/06******78'],
    ['/api/sms/opt-outs/%2B33612345678', '/api/sms/opt-outs/+33 6 ** ** ** 78'],
    ['/api/sms/opt-outs/06%C2%A012%C2%A034%C2%A056%C2%A078', '/api/sms/opt-outs/06\u00a0**\u00a0**\u00a0**\u00a078'],
    ['/api/sms/opt-outs/0612345678%', '/api/sms/opt-outs/06******78%'],
    [
      '/api/sms/messages?phone=06%C2%A012%C2%A034%C2%A056%C2%A078&limit=5',
      '/api/sms/messages?phone=06\u00a0**\u00a0**\u00a0**\u00a078&limit=5',
    ],
    ['/api/sms/messages?phone=06+12+34+56+78', '/api/sms/messages?phone=06 ** ** ** 78'],
    // Encoded twice: decoded once, as the app reads it; the escapes left are read as separators.
    ['/api/sms/messages?phone=%252B33612345678', '/api/sms/messages?phone=%2B33*******78'],
    [
      '/api/sms/messages?phone=06%25C2%25A012%25C2%25A034%25C2%25A056%25C2%25A078',
      '/api/sms/messages?phone=06%C2%A0**%C2%A0**%C2%A0**%C2%A078',
    ],
    // A malformed escape elsewhere no longer leaves the number encoded, hence unmasked.
    ['/api/sms/opt-outs/06%C2%A012%C2%A034%C2%A056%C2%A078/%E0%A4%A', '/api/sms/opt-outs/06\u00a0**\u00a0**\u00a0**\u00a078/%E0%A4%A'],
    [
      '/api/sms/opt-outs/%2B33612345678%ZZ?phone=06%C2%A012%C2%A034%C2%A056%C2%A078%E0',
      '/api/sms/opt-outs/+33 6 ** ** ** 78%ZZ?phone=06\u00a0**\u00a0**\u00a0**\u00a078%E0',
    ],
    ['/api/sms/opt-outs?%2B33612345678', '/api/sms/opt-outs?+33 6 ** ** ** 78'],
  ])('%s', (url, logged) => {
    expect(safeUrlForLog(url)).toBe(logged);
  });

  it.each([
    '/api/appointments/3f2b1c9e-1234-4abc-8def-012345678901/confirm',
    '/api/sms/bulk/12345678-1234-4123-8123-123456789012/messages?state=skipped&limit=50',
    '/api/sms/stats?since=2030-01-01T00:00:00Z&until=2030-02-01T00:00:00.000Z&kind=reminder',
    '/api/sms/stats?since=2030-01-01 00:00&until=2030-01-31',
    '/api/sms/messages/SM0123456789abcdef0123456789abcdef',
  ])('keeps %s readable', (url) => {
    expect(safeUrlForLog(url)).toBe(url);
  });
});
