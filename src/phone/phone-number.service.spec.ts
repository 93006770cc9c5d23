import {
  DEFAULT_PHONE_COUNTRY,
  InvalidPhoneNumberError,
  PhoneNumberService,
  TWILIO_MAGIC_TEST_NUMBERS,
  type PhoneNumberErrorCode,
} from './phone-number.service.js';

const FRENCH_MOBILE_SPELLINGS = [
  '0612345678',
  '06 12 34 56 78',
  '+33612345678',
  '0033612345678',
  '06.12.34.56.78',
  '06-12-34-56-78',
  '(06) 12 34 56 78',
  '+33 6 12 34 56 78',
  '+33 (0)6 12 34 56 78',
  '0033 6 12 34 56 78',
  '  06 12 34 56 78  ',
  // Pasted: a contacts app's direction marks, French typography's narrow no-break spaces, a spreadsheet's tab, a
  // zero-width space.
  '\u202a+33 6 12 34 56 78\u202c',
  '06\u202f12\u202f34\u202f56\u202f78',
  '+33\t612345678',
  '06\u200b12 34 56 78',
];

const codeOf = (fn: () => unknown): PhoneNumberErrorCode | undefined => {
  try {
    fn();
    return undefined;
  } catch (error) {
    if (error instanceof InvalidPhoneNumberError) return error.code;
    throw error;
  }
};

describe(PhoneNumberService.name, () => {
  let sut: PhoneNumberService;

  beforeEach(() => {
    sut = new PhoneNumberService('FR');
  });

  describe('constructor', () => {
    it('exports a symbol injection token for the default country', () => {
      expect(typeof DEFAULT_PHONE_COUNTRY).toBe('symbol');
    });

    it('accepts a lowercase default country', () => {
      expect(new PhoneNumberService('fr').normalize('0612345678')).toBe('+33612345678');
    });

    it('reads national numbers in the configured default country', () => {
      expect(new PhoneNumberService('BE').normalize('0470 12 34 56')).toBe('+32470123456');
    });

    it.each(['XX', 'France', ''])('refuses the unsupported default country %j at construction', (country) => {
      expect(() => new PhoneNumberService(country)).toThrow(/unsupported default country/);
    });
  });

  describe('format', () => {
    it.each(FRENCH_MOBILE_SPELLINGS)('reads %j as the French mobile +33612345678', (input) => {
      expect(sut.format(input)).toEqual({
        input,
        e164: '+33612345678',
        valid: true,
        country: 'FR',
        type: 'MOBILE',
        national: '06 12 34 56 78',
        international: '+33 6 12 34 56 78',
      });
    });

    it('handles the 00 international prefix dialled from France (0033…) natively', () => {
      expect(sut.format('0033 1 23 45 67 89')).toMatchObject({ e164: '+33123456789', valid: true, type: 'FIXED_LINE' });
      expect(sut.format('0032 470 12 34 56')).toMatchObject({ e164: '+32470123456', valid: true, country: 'BE' });
    });

    it.each([
      ['01 23 45 67 89', '+33123456789', 'FIXED_LINE'],
      ['09 51 23 45 67', '+33951234567', 'VOIP'],
      ['07 81 23 45 67', '+33781234567', 'MOBILE'],
      ['+1 202 555 0100', '+12025550100', 'FIXED_LINE_OR_MOBILE'],
      ['+44 7911 123456', '+447911123456', 'MOBILE'],
    ])('reports the libphonenumber type of %j', (input, e164, type) => {
      expect(sut.format(input)).toMatchObject({ e164, valid: true, type });
    });

    it('keeps the country of an international number whatever the default country', () => {
      expect(sut.format('+32 470 12 34 56')).toMatchObject({ e164: '+32470123456', country: 'BE', national: '0470 12 34 56' });
    });

    it('reads a national number in the country passed for this call', () => {
      expect(sut.format('0470 12 34 56', 'BE')).toMatchObject({ e164: '+32470123456', valid: true, country: 'BE' });
      expect(sut.format('0470 12 34 56', 'be')).toMatchObject({ valid: true, country: 'BE' });
    });

    it('falls back to the default country when the country argument is empty', () => {
      expect(sut.format('0612345678', '')).toMatchObject({ valid: true, country: 'FR' });
    });

    it('refuses an unknown country argument with INVALID_COUNTRY', () => {
      expect(sut.format('0612345678', 'XX')).toMatchObject({ valid: false, e164: null, reason: { code: 'INVALID_COUNTRY' } });
    });

    it.each<[string, PhoneNumberErrorCode]>([
      ['123', 'TOO_SHORT'],
      ['06 12 34 56', 'TOO_SHORT'],
      ['+33', 'TOO_SHORT'],
      ['06 12 34 56 78 9', 'TOO_LONG'],
      ['061234567890123', 'TOO_LONG'],
      ['+999 123456', 'INVALID_COUNTRY'],
      ['abc', 'NOT_A_NUMBER'],
      ['0612345678a', 'NOT_A_NUMBER'],
      ['06_12_34_56_78', 'NOT_A_NUMBER'],
      ['++33612345678', 'NOT_A_NUMBER'],
      ['+44 7700 900123', 'INVALID_NUMBER'],
      ['07 00 00 00 00', 'INVALID_NUMBER'],
      ['+1 212 123 4567', 'INVALID_NUMBER'],
      ['+44 77777777', 'INVALID_LENGTH'],
    ])('refuses %j with reason %s and no formatted values', (input, code) => {
      const result = sut.format(input);
      expect(result).toEqual({
        input,
        e164: null,
        valid: false,
        country: null,
        type: null,
        national: null,
        international: null,
        reason: { code, message: expect.any(String) },
      });
      expect(result.reason!.message).toMatch(/^[A-Z][\x20-\x7e]+\.$/);
    });

    it.each([[''], ['   '], [undefined], [null], [612345678], [{}], [['0612345678']]])(
      'refuses the empty or non-string input %j with NOT_A_NUMBER',
      (input) => {
        const result = sut.format(input as unknown as string);
        expect(result).toMatchObject({ valid: false, e164: null, reason: { code: 'NOT_A_NUMBER' } });
        expect(typeof result.input).toBe('string');
      },
    );

    it('accepts every Twilio magic test number, +15005550001 to +15005550010', () => {
      expect([...TWILIO_MAGIC_TEST_NUMBERS]).toHaveLength(10);
      for (const number of TWILIO_MAGIC_TEST_NUMBERS) {
        expect(sut.format(number)).toMatchObject({ e164: number, valid: true, country: 'US' });
      }
    });

    it('does not list anything but the ten documented Twilio test numbers', () => {
      expect([...TWILIO_MAGIC_TEST_NUMBERS]).toEqual([
        '+15005550001',
        '+15005550002',
        '+15005550003',
        '+15005550004',
        '+15005550005',
        '+15005550006',
        '+15005550007',
        '+15005550008',
        '+15005550009',
        '+15005550010',
      ]);
    });

    it('never throws, even on very long input', () => {
      expect(sut.format('1'.repeat(1000))).toMatchObject({ valid: false, reason: { code: 'TOO_LONG' } });
    });
  });

  describe('normalize', () => {
    it.each(FRENCH_MOBILE_SPELLINGS)('returns E.164 +33612345678 for %j', (input) => {
      expect(sut.normalize(input)).toBe('+33612345678');
    });

    it('uses the country argument for national numbers', () => {
      expect(sut.normalize('0470 12 34 56', { country: 'BE' })).toBe('+32470123456');
    });

    it('returns the Twilio magic test numbers unchanged', () => {
      expect(sut.normalize('+15005550006')).toBe('+15005550006');
      expect(sut.normalize('+1 500 555 0001')).toBe('+15005550001');
    });

    it('throws an InvalidPhoneNumberError carrying the input, the code and an English message', () => {
      let thrown: unknown;
      try {
        sut.normalize('06 12');
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(InvalidPhoneNumberError);
      expect(thrown).toBeInstanceOf(Error);
      expect(thrown).toMatchObject({
        name: 'InvalidPhoneNumberError',
        input: '06 12',
        code: 'TOO_SHORT',
        field: 'phone',
        reason: 'The number is too short.',
        message: 'phone: The number is too short.',
      });
    });

    it("answers its 400 with the problem in plain words in the caller's language, French by default", () => {
      const error = (() => {
        try {
          sut.normalize('0144556677', { field: 'to', sms: true });
        } catch (e) {
          return e as InvalidPhoneNumberError;
        }
        throw new Error('not refused');
      })();
      expect(error.toHttp({}).body).toMatchObject({
        code: 'NOT_SMS_CAPABLE',
        details: [{ field: 'to' }],
        explanation: expect.stringMatching(/^Ce numéro ne peut pas recevoir de SMS/),
        hint: 'Utilisez un numéro de mobile.',
      });
      expect(error.toHttp({ acceptLanguage: 'de, en;q=0.8' }).body).toMatchObject({ hint: 'Use a mobile number.' });
      for (const input of ['', '06 12', '0612345678999', '+999 12', '+44 7700 900123'])
        expect(() => sut.normalize(input)).toThrow(
          expect.objectContaining({
            advice: expect.objectContaining({ fr: expect.objectContaining({ explanation: expect.any(String) }) }),
          }),
        );
    });

    it.each<[unknown, PhoneNumberErrorCode]>([
      ['', 'NOT_A_NUMBER'],
      [undefined, 'NOT_A_NUMBER'],
      ['abc', 'NOT_A_NUMBER'],
      ['+44 7700 900123', 'INVALID_NUMBER'],
      ['0612345678999', 'TOO_LONG'],
    ])('throws for %j with code %s', (input, code) => {
      expect(codeOf(() => sut.normalize(input as string))).toBe(code);
    });

    it('refuses a French landline for SMS, naming the field, but keeps it as a contact number', () => {
      expect(() => sut.normalize('0144556677', { field: 'to', sms: true })).toThrow(InvalidPhoneNumberError);
      const error = (() => {
        try {
          sut.normalize('0144556677', { field: 'to', sms: true });
        } catch (e) {
          return e as InvalidPhoneNumberError;
        }
        throw new Error('expected a refusal');
      })();
      expect(error).toMatchObject({ code: 'NOT_SMS_CAPABLE', field: 'to', message: expect.stringMatching(/^to: .*landline/) });
      expect(sut.normalize('0144556677')).toBe('+33144556677');
      expect(sut.format('0144556677')).toMatchObject({ valid: true, type: 'FIXED_LINE' });
      expect(sut.formatRecipient('0144556677')).toMatchObject({ valid: false, reason: { code: 'NOT_SMS_CAPABLE' } });
      // Numbers no SMS can reach: toll-free, premium-rate, shared-cost (French and international).
      for (const [number, kind] of [
        ['0800123456', /toll-free/],
        ['+80012345678', /toll-free/],
        ['0899123456', /premium-rate/],
        ['0810123456', /shared-cost/],
      ] as const) {
        expect(sut.formatRecipient(number), number).toMatchObject({
          valid: false,
          reason: { code: 'NOT_SMS_CAPABLE', message: expect.stringMatching(kind) },
        });
        expect(sut.recipientNumber(number), number).toMatchObject({ e164: null, reason: { code: 'NOT_SMS_CAPABLE' } });
        expect(sut.format(number), number).toMatchObject({ valid: true }); // formatting still reads it
      }
    });

    it('keeps FIXED_LINE_OR_MOBILE numbers for SMS', () => {
      // US numbers are FIXED_LINE_OR_MOBILE: libphonenumber cannot tell, Twilio can deliver.
      expect(sut.format('+12015550123').type).toBe('FIXED_LINE_OR_MOBILE');
      expect(sut.normalize('+12015550123', { sms: true })).toBe('+12015550123');
      expect(sut.normalize('0612345678', { sms: true })).toBe('+33612345678');
    });

    it('throws INVALID_COUNTRY for an unknown country argument', () => {
      expect(codeOf(() => sut.normalize('0612345678', { country: 'ZZ' }))).toBe('INVALID_COUNTRY');
    });
  });

  describe('French overseas numbers in the French national form', () => {
    it.each([
      ['0692 12 34 56', '+262692123456', 'RE', 'MOBILE'], // Réunion
      ['0639 01 23 45', '+262639012345', 'YT', 'MOBILE'], // Mayotte
      ['0690 12 34 56', '+590690123456', 'GP', 'MOBILE'], // Guadeloupe (Saint-Barthélemy and Saint-Martin mobiles too)
      ['0691 22 12 34', '+590691221234', 'GP', 'MOBILE'],
      ['0590 27 12 34', '+590590271234', 'BL', 'FIXED_LINE'], // Saint-Barthélemy
      ['0590 07 12 34', '+590590071234', 'MF', 'FIXED_LINE'], // Saint-Martin
      ['0694 12 34 56', '+594694123456', 'GF', 'MOBILE'], // Guyane
      ['0696 12 34 56', '+596696123456', 'MQ', 'MOBILE'], // Martinique
      ['0697 12 34 56', '+596697123456', 'MQ', 'MOBILE'],
      ['0708 40 12 34', '+508708401234', 'PM', 'MOBILE'], // Saint-Pierre-et-Miquelon
    ])('reads %j as %s, a number of %s', (input, e164, country, type) => {
      expect(sut.format(input)).toMatchObject({ e164, valid: true, country, type });
      expect(sut.format(input.replaceAll(' ', ''))).toMatchObject({ e164, country });
      expect(sut.normalize(input)).toBe(e164);
      if (type === 'MOBILE') {
        expect(sut.normalize(input, { sms: true })).toBe(e164);
        expect(new PhoneNumberService('FR').recipientNumber(input)).toEqual({ e164 });
      }
    });

    it('formats the Réunion number 0692123456 as the same number written +262', () => {
      expect(sut.format('0692123456')).toEqual({ ...sut.format('+262692123456'), input: '0692123456' });
      expect(sut.format('0692123456')).toMatchObject({ national: '0692 12 34 56', international: '+262 692 12 34 56' });
    });

    it('formats an overseas landline (Réunion 0262…) but refuses it for SMS like a metropolitan one', () => {
      expect(sut.format('0262 12 34 56')).toMatchObject({ e164: '+262262123456', valid: true, country: 'RE', type: 'FIXED_LINE' });
      expect(sut.normalize('0262123456')).toBe('+262262123456');
      const metropolitan = sut.formatRecipient('0144556677').reason;
      expect(metropolitan).toEqual({ code: 'NOT_SMS_CAPABLE', message: expect.stringMatching(/landline/) });
      expect(sut.formatRecipient('0262123456')).toMatchObject({ valid: false, e164: null, reason: metropolitan });
      expect(new PhoneNumberService('FR').recipientNumber('0262123456')).toEqual({ e164: null, reason: metropolitan });
      expect(() => sut.normalize('0262123456', { field: 'to', sms: true })).toThrow(
        'to: The number is a landline (fixed line): it cannot receive SMS.',
      );
      expect(codeOf(() => sut.normalize('0262123456', { sms: true }))).toBe('NOT_SMS_CAPABLE');
    });

    it('keeps metropolitan numbers French', () => {
      expect(sut.format('0612345678')).toMatchObject({ e164: '+33612345678', country: 'FR', type: 'MOBILE' });
      expect(sut.format('0144556677')).toMatchObject({ e164: '+33144556677', country: 'FR', type: 'FIXED_LINE' });
    });

    it.each<[string, PhoneNumberErrorCode]>([
      ['+33 6 92 12 34 56', 'INVALID_NUMBER'], // written with +33: a French number, not a Réunion one
      ['0033 6 92 12 34 56', 'INVALID_NUMBER'],
      ['0691 12 34 56', 'INVALID_NUMBER'], // valid nowhere
      ['0692 12 34 5', 'INVALID_NUMBER'],
      ['0692 12 34 56 7', 'TOO_LONG'],
      ['055 12 34', 'TOO_SHORT'], // a 6-digit Saint-Pierre-et-Miquelon number needs +508
    ])('still refuses %j with %s', (input, code) => {
      expect(sut.format(input)).toMatchObject({ valid: false, e164: null, country: null, reason: { code } });
    });

    it('reads the French national form when FR is the country passed for the call', () => {
      expect(new PhoneNumberService('BE').format('0692123456', 'FR')).toMatchObject({ e164: '+262692123456', country: 'RE' });
      expect(sut.format('0692123456', 'fr')).toMatchObject({ e164: '+262692123456', country: 'RE' });
    });

    it('does not try the French overseas regions for another country', () => {
      const be = new PhoneNumberService('BE');
      for (const input of ['0692123456', '0690123456', '0696123456', '0262123456']) {
        expect(be.format(input), input).toMatchObject({ valid: false, e164: null, reason: { code: 'INVALID_NUMBER' } });
        expect(
          codeOf(() => be.normalize(input)),
          input,
        ).toBe('INVALID_NUMBER');
        expect(be.recipientNumber(input), input).toMatchObject({ e164: null, reason: { code: 'INVALID_NUMBER' } });
      }
      expect(sut.format('0692123456', 'BE')).toMatchObject({ valid: false, reason: { code: 'INVALID_NUMBER' } });
      expect(be.normalize('+262 692 12 34 56')).toBe('+262692123456');
    });
  });

  describe('recipientNumber', () => {
    const inputs = [
      '0612345678',
      ' +33 7 12 34 56 78 ',
      '0144556677',
      '+12015550123',
      '+15005550001',
      '+15005550011',
      '+44 7700 900123',
      '+447911123456',
      '0612345678999',
      '061',
      'abc',
      '0612345678a',
      '',
      '   ',
      '+800 1234 5678',
      '+33 9 87 65 43 21',
      '+33 8 00 12 34 56',
      '+262 692 12 34 56',
      '0692 12 34 56',
      '0262123456',
      '0639012345',
      '0691123456',
    ];

    it("gives formatRecipient's verdict for each number, whether or not format() has seen it", () => {
      for (const input of inputs) {
        const expected = new PhoneNumberService('FR').formatRecipient(input);
        const verdict = expected.valid ? { e164: expected.e164 } : { e164: null, reason: expected.reason };
        expect(new PhoneNumberService('FR').recipientNumber(input), `${JSON.stringify(input)} unseen`).toEqual(verdict);
        const warm = new PhoneNumberService('FR');
        warm.format(input);
        expect(warm.recipientNumber(input), `${JSON.stringify(input)} seen`).toEqual(verdict);
      }
    });

    it('refuses a landline for SMS and accepts a mobile', () => {
      expect(sut.recipientNumber('0144556677')).toEqual({ e164: null, reason: { code: 'NOT_SMS_CAPABLE', message: expect.any(String) } });
      expect(sut.recipientNumber('06 12 34 56 78')).toEqual({ e164: '+33612345678' });
      expect(sut.recipientNumber(undefined as unknown as string)).toMatchObject({ e164: null, reason: { code: 'NOT_A_NUMBER' } });
    });
  });
});

/**
 * libphonenumber's metadata decides whether +1 500 555 00xx is a valid US number (recent metadata says yes,
 * older or `min` metadata said no). The allowance must not depend on it: with a libphonenumber that
 * calls every number invalid, the Twilio test numbers must still be accepted, and only they.
 */
describe(`${PhoneNumberService.name} with metadata that rejects the Twilio test numbers`, () => {
  let Service: typeof PhoneNumberService;

  beforeAll(async () => {
    vi.resetModules();
    vi.doMock('libphonenumber-js/max', async (importOriginal) => {
      const actual = await importOriginal<typeof import('libphonenumber-js/max')>();
      return {
        ...actual,
        parsePhoneNumberWithError: (...args: Parameters<typeof actual.parsePhoneNumberWithError>) => {
          const parsed = actual.parsePhoneNumberWithError(...args);
          // Such metadata finds no type for any number either (isValid() is getType() !== undefined).
          parsed.isValid = () => false;
          parsed.getType = () => undefined;
          return parsed;
        },
      };
    });
    ({ PhoneNumberService: Service } = await import('./phone-number.service.js'));
  });

  afterAll(() => {
    vi.doUnmock('libphonenumber-js/max');
    vi.resetModules();
  });

  it('still accepts the Twilio test numbers', () => {
    const sut = new Service('FR');
    expect(sut.normalize('+15005550001')).toBe('+15005550001');
    expect(sut.format('+15005550010')).toMatchObject({ valid: true, e164: '+15005550010' });
  });

  it('rejects the neighbours of the Twilio test numbers and everything else', () => {
    const sut = new Service('FR');
    expect(sut.format('+15005550011')).toMatchObject({ valid: false, reason: { code: 'INVALID_NUMBER' } });
    expect(sut.format('+15005550000')).toMatchObject({ valid: false });
    expect(sut.format('0612345678')).toMatchObject({ valid: false });
    expect(sut.recipientNumber('+15005550001')).toEqual({ e164: '+15005550001' });
    expect(sut.recipientNumber('0612345678')).toMatchObject({ e164: null, reason: { code: 'INVALID_NUMBER' } });
  });
});

describe(`${PhoneNumberService.name} with SMS_ALLOWED_COUNTRIES`, () => {
  const sut = new PhoneNumberService('FR', ['FR', 'RE', 'GP']);

  it('refuses, for SMS only, a number whose own territory is not listed; formatting and other fields take it', () => {
    expect(sut.recipientNumber('+2348031234567')).toEqual({
      e164: null,
      reason: { code: 'COUNTRY_NOT_ALLOWED', message: 'The number is of NG, and SMS go only to FR, RE, GP (SMS_ALLOWED_COUNTRIES).' },
    });
    expect(sut.formatRecipient('+2348031234567')).toMatchObject({ valid: false, e164: null, reason: { code: 'COUNTRY_NOT_ALLOWED' } });
    expect(() => sut.normalize('+2348031234567', { field: 'clientPhone', sms: true })).toThrow(
      'clientPhone: The number is of NG, and SMS go only to FR, RE, GP (SMS_ALLOWED_COUNTRIES).',
    );
    expect(sut.format('+2348031234567')).toMatchObject({ valid: true, country: 'NG' });
    expect(sut.normalize('+2348031234567', { field: 'phone' })).toBe('+2348031234567');
    // Listed: France, Réunion by its national form, Guadeloupe.
    expect(sut.recipientNumber('0612345678')).toEqual({ e164: '+33612345678' });
    expect(sut.recipientNumber('0692 12 34 56')).toEqual({ e164: '+262692123456' });
    expect(sut.recipientNumber('0690 12 34 56')).toEqual({ e164: '+590690123456' });
    // Mayotte shares Réunion's +262, with a territory of its own: not listed.
    expect(sut.recipientNumber('0639 01 23 45')).toMatchObject({ e164: null, reason: { code: 'COUNTRY_NOT_ALLOWED' } });
    // A landline stays NOT_SMS_CAPABLE, whatever its country.
    expect(sut.recipientNumber('0144556677')).toMatchObject({ reason: { code: 'NOT_SMS_CAPABLE' } });
    // A number of no country (+800, international freephone) cannot be listed.
    expect(sut.formatRecipient('+800 1234 5678')).toMatchObject({ valid: false });
  });

  it("reads a shared calling code's mobiles as libphonenumber does: +590 mobiles are GP, +44 7911 is GG", () => {
    const bl = new PhoneNumberService('FR', ['BL', 'MF']);
    expect(bl.recipientNumber('+590 690 12 34 56')).toMatchObject({
      reason: { code: 'COUNTRY_NOT_ALLOWED', message: expect.stringContaining('of GP') },
    });
    const gb = new PhoneNumberService('FR', ['GB']);
    expect(gb.recipientNumber('+447911123456')).toMatchObject({
      reason: { code: 'COUNTRY_NOT_ALLOWED', message: expect.stringContaining('of GG') },
    });
  });

  it('gives the same verdict whether or not format() has seen the number (its cache)', () => {
    const warm = new PhoneNumberService('FR', ['FR']);
    warm.format('+2348031234567');
    expect(warm.recipientNumber('+2348031234567')).toMatchObject({ reason: { code: 'COUNTRY_NOT_ALLOWED' } });
  });
});
