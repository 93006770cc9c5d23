import { parseSendAt, personalize } from './sms.service.js';
import { SmsInputError } from './sms-exceptions.js';

describe('parseSendAt', () => {
  const now = new Date('2030-01-10T12:00:00Z');
  const problem = (value: string) => {
    try {
      parseSendAt(value, now);
    } catch (error) {
      expect(error).toBeInstanceOf(SmsInputError);
      expect((error as SmsInputError).field).toBe('sendAt');
      return (error as Error).message;
    }
    throw new Error('expected a refusal');
  };

  it('reads ISO 8601 with an offset, to the instant', () => {
    expect(parseSendAt('2030-01-15T14:30:00+01:00', now)?.toISOString()).toBe('2030-01-15T13:30:00.000Z');
    expect(parseSendAt('2030-01-15T14:30Z', now)?.toISOString()).toBe('2030-01-15T14:30:00.000Z');
    expect(parseSendAt('2030-01-15T14:30:00.250-05:00', now)?.toISOString()).toBe('2030-01-15T19:30:00.250Z');
    expect(parseSendAt(undefined, now)).toBeNull();
  });

  it('refuses no offset, impossible dates, the past, and more than 35 days ahead', () => {
    expect(problem('2030-01-15T14:30')).toMatch(/add an offset/);
    expect(problem('2030-01-15')).toMatch(/ISO 8601/);
    expect(problem('2030-02-31T10:00:00Z')).toMatch(/not a real date/);
    expect(problem('2030-01-15T24:00:00Z')).toMatch(/not a real date/);
    expect(problem('2030-01-10T11:59:59Z')).toMatch(/future/);
    expect(problem('2030-02-14T12:00:01Z')).toMatch(/35 days/);
    expect(parseSendAt('2030-02-14T12:00:00Z', now)).toBeInstanceOf(Date);
  });
});

describe('personalize', () => {
  it('should replace every {{name}} placeholder, spaced or not, with the trimmed name', () => {
    expect(personalize('Bonjour {{name}}, {{ name }} !', '  Jean ')).toBe('Bonjour Jean, Jean !');
  });

  it('should remove the placeholder and the space before it when there is no name', () => {
    expect(personalize('Bonjour {{name}}, votre dossier est prêt.', undefined)).toBe('Bonjour, votre dossier est prêt.');
    expect(personalize('{{name}} bonjour', '  ')).toBe('bonjour');
  });

  it('should insert a name containing replacement patterns literally', () => {
    expect(personalize('Bonjour {{name}}', "$& $' $1")).toBe("Bonjour $& $' $1");
  });
});
