import { analyzeSmsBody } from '../encoding/sms-encoding.js';
import { INTERNAL_NOTIFICATION_TYPES, NOTIFICATION_TYPES, RENDERABLE_NOTIFICATION_TYPES } from './notification-types.js';
import { DEFAULT_TIME_ZONE, SmsTemplateService, TemplateDataError } from './sms-template.service.js';
import { SUPPORTED_LOCALES } from './template-catalog.js';

/** The brief's example recipient and appointment. */
const EXAMPLE = { name: 'Jean Dupont', date: 'lundi 15 janvier 2024', time: '14:30' };
const APPOINTMENT_TYPES = ['appointment_confirmed', 'appointment_reminder', 'appointment_cancelled', 'appointment_rescheduled'];

/** Required data only. */
const MINIMAL_DATA: Record<string, Record<string, unknown>> = Object.fromEntries(
  RENDERABLE_NOTIFICATION_TYPES.map((type) => [type, APPOINTMENT_TYPES.includes(type) ? EXAMPLE : { name: 'Jean Dupont' }]),
);

/** Every optional field filled. */
const FULL_DATA: Record<string, Record<string, unknown>> = {
  appointment_confirmed: { ...EXAMPLE, location: '12 rue de la Paix, Paris' },
  appointment_reminder: { ...EXAMPLE, location: '12 rue de la Paix, Paris' },
  appointment_cancelled: { ...EXAMPLE, location: '12 rue de la Paix, Paris', reason: 'indisponibilité du conseiller' },
  appointment_rescheduled: { ...EXAMPLE, location: '12 rue de la Paix, Paris' },
  dossier_updated: { name: 'Jean Dupont', reference: 'D-2024-0042', status: "en cours d'instruction" },
  document_uploaded: { name: 'Jean Dupont', documentName: 'justificatif de domicile' },
  message_received: { name: 'Jean Dupont', sender: 'Sophie Martin' },
};

const errorOf = (fn: () => unknown): TemplateDataError => {
  try {
    fn();
  } catch (error) {
    if (error instanceof TemplateDataError) return error;
    throw error;
  }
  throw new Error('expected a TemplateDataError');
};

describe(SmsTemplateService.name, () => {
  let sut: SmsTemplateService;

  beforeEach(() => {
    sut = new SmsTemplateService('Europe/Paris');
  });

  describe('constructor', () => {
    it('exports a symbol injection token for the default time zone', () => {
      expect(typeof DEFAULT_TIME_ZONE).toBe('symbol');
    });

    it('refuses an unknown time zone at construction', () => {
      expect(() => new SmsTemplateService('Mars/Olympus')).toThrow(/unknown time zone "Mars\/Olympus"/);
    });
  });

  describe('supportedLocales', () => {
    it('returns French and English', () => {
      expect(sut.supportedLocales()).toEqual(['fr', 'en']);
    });

    it('returns a copy callers cannot use to change the service', () => {
      sut.supportedLocales().push('de' as never);
      expect(sut.supportedLocales()).toEqual(['fr', 'en']);
    });
  });

  describe('render', () => {
    describe('French texts with the example data', () => {
      it.each([
        ['appointment_confirmed', 'Bonjour Jean Dupont, votre rendez-vous du lundi 15 janvier 2024 à 14:30 est confirmé.'],
        ['appointment_reminder', 'Bonjour Jean Dupont, nous vous rappelons votre rendez-vous du lundi 15 janvier 2024 à 14:30.'],
        ['appointment_cancelled', 'Bonjour Jean Dupont, votre rendez-vous du lundi 15 janvier 2024 à 14:30 est annulé.'],
        ['appointment_rescheduled', 'Bonjour Jean Dupont, votre rendez-vous a été déplacé au lundi 15 janvier 2024 à 14:30.'],
        ['dossier_updated', 'Bonjour Jean Dupont, votre dossier a été mis à jour. Plus de détails dans votre espace personnel.'],
        [
          'document_uploaded',
          'Bonjour Jean Dupont, un nouveau document a été ajouté à votre dossier. Consultez-le dans votre espace personnel.',
        ],
        ['message_received', 'Bonjour Jean Dupont, vous avez un nouveau message. Lisez-le dans votre espace personnel.'],
      ])('renders %s', (type, text) => {
        expect(sut.render(type, EXAMPLE)).toBe(text);
      });
    });

    it('writes a pasted value inline: composed accents, plain spaces, no invisible or control characters', () => {
      const text = sut.render('dossier_updated', { ...EXAMPLE, name: '\u200bHe\u0301le\u0300ne\u00a0Dupont\t\r\nBis\u0007' });
      expect(text).toBe('Bonjour Hélène Dupont Bis, votre dossier a été mis à jour. Plus de détails dans votre espace personnel.');
      // Nothing left once cleaned: missing, named.
      expect(() => sut.render('dossier_updated', { ...EXAMPLE, name: '\u200b' })).toThrow(/name/);
    });

    describe('French texts with every optional field', () => {
      it.each([
        [
          'appointment_confirmed',
          'Bonjour Jean Dupont, votre rendez-vous du lundi 15 janvier 2024 à 14:30 est confirmé. Lieu : 12 rue de la Paix, Paris.',
        ],
        [
          'appointment_reminder',
          'Bonjour Jean Dupont, nous vous rappelons votre rendez-vous du lundi 15 janvier 2024 à 14:30. Lieu : 12 rue de la Paix, Paris.',
        ],
        [
          'appointment_cancelled',
          'Bonjour Jean Dupont, votre rendez-vous du lundi 15 janvier 2024 à 14:30 (12 rue de la Paix, Paris) est annulé. Motif : indisponibilité du conseiller.',
        ],
        [
          'appointment_rescheduled',
          'Bonjour Jean Dupont, votre rendez-vous a été déplacé au lundi 15 janvier 2024 à 14:30. Lieu : 12 rue de la Paix, Paris.',
        ],
        [
          'dossier_updated',
          "Bonjour Jean Dupont, votre dossier D-2024-0042 a été mis à jour. Nouveau statut : en cours d'instruction. Plus de détails dans votre espace personnel.",
        ],
        [
          'document_uploaded',
          'Bonjour Jean Dupont, un nouveau document a été ajouté à votre dossier : justificatif de domicile. Consultez-le dans votre espace personnel.',
        ],
        ['message_received', 'Bonjour Jean Dupont, Sophie Martin vous a envoyé un message. Lisez-le dans votre espace personnel.'],
      ])('renders %s', (type, text) => {
        expect(sut.render(type, FULL_DATA[type])).toBe(text);
      });
    });

    describe('English texts', () => {
      const english = { name: 'Jean Dupont', date: 'Monday, January 15, 2024', time: '2:30 PM' };

      it.each([
        ['appointment_confirmed', 'Hello Jean Dupont, your appointment on Monday, January 15, 2024 at 2:30 PM is confirmed.'],
        ['appointment_reminder', 'Hello Jean Dupont, this is a reminder of your appointment on Monday, January 15, 2024 at 2:30 PM.'],
        ['appointment_cancelled', 'Hello Jean Dupont, your appointment on Monday, January 15, 2024 at 2:30 PM has been cancelled.'],
        ['appointment_rescheduled', 'Hello Jean Dupont, your appointment has been moved to Monday, January 15, 2024 at 2:30 PM.'],
        ['dossier_updated', 'Hello Jean Dupont, your case file has been updated. See your online account for details.'],
        [
          'document_uploaded',
          'Hello Jean Dupont, a new document has been added to your case file. You can view it in your online account.',
        ],
        ['message_received', 'Hello Jean Dupont, you have a new message. Read it in your online account.'],
      ])('renders %s', (type, text) => {
        expect(sut.render(type, english, 'en')).toBe(text);
      });

      it('renders the optional sections', () => {
        expect(sut.render('message_received', { name: 'Jean', sender: 'Sophie Martin' }, 'en')).toBe(
          'Hello Jean, Sophie Martin has sent you a message. Read it in your online account.',
        );
        expect(sut.render('dossier_updated', { name: 'Jean', reference: 'D-1', status: 'closed' }, 'en')).toBe(
          'Hello Jean, your case file D-1 has been updated. New status: closed. See your online account for details.',
        );
        expect(sut.render('appointment_cancelled', { ...english, location: 'Paris', reason: 'strike' }, 'en')).toBe(
          'Hello Jean Dupont, your appointment on Monday, January 15, 2024 at 2:30 PM (Paris) has been cancelled. Reason: strike.',
        );
      });
    });

    describe('every type in every locale', () => {
      const cases = RENDERABLE_NOTIFICATION_TYPES.flatMap((type) =>
        SUPPORTED_LOCALES.flatMap((locale) => [
          { type, locale, data: MINIMAL_DATA[type], label: 'minimal' },
          { type, locale, data: FULL_DATA[type], label: 'full' },
        ]),
      );

      it.each(cases)('renders $type ($locale, $label data) with no leftover placeholder or missing value', ({ type, locale, data }) => {
        const text = sut.render(type, data, locale);
        expect(text).not.toMatch(/undefined|null|NaN|\{\{|\}\}|\[object/);
        expect(text).not.toMatch(/ {2}| [.,)]|\( |\.\.|,\.|: ?\./); // no gap left by an absent optional value
        expect(text).toMatch(/^(Bonjour|Hello) Jean Dupont, .+\.$/);
      });

      it.each(cases)('keeps $type ($locale, $label data) in one GSM-7 SMS', ({ type, locale, data }) => {
        const analysis = analyzeSmsBody(sut.render(type, data, locale));
        expect(analysis).toMatchObject({ encoding: 'GSM-7', segments: 1, ucs2Characters: [] });
      });
    });

    describe('startsAt', () => {
      it('writes the date and time in French in the default time zone', () => {
        expect(sut.render('appointment_confirmed', { name: 'Jean Dupont', startsAt: '2024-01-15T13:30:00Z' })).toBe(
          'Bonjour Jean Dupont, votre rendez-vous du lundi 15 janvier 2024 à 14:30 est confirmé.',
        );
      });

      it('writes the date and time in English in the default time zone', () => {
        expect(sut.render('appointment_reminder', { name: 'Jean Dupont', startsAt: '2024-01-15T14:30:00+01:00' }, 'en')).toBe(
          'Hello Jean Dupont, this is a reminder of your appointment on Monday, January 15, 2024 at 2:30 PM.',
        );
      });

      it('converts an instant given in another offset to the default time zone, across midnight', () => {
        // 23:30 in New York on Sunday is 05:30 on Monday in Paris.
        expect(sut.render('appointment_confirmed', { name: 'A', startsAt: '2024-01-14T23:30:00-05:00' })).toContain(
          'du lundi 15 janvier 2024 à 05:30',
        );
      });

      it('follows summer time in the default time zone', () => {
        expect(sut.render('appointment_confirmed', { name: 'A', startsAt: '2024-07-01T12:00:00Z' })).toContain('à 14:00');
      });

      it('uses the time zone given at construction', () => {
        const newYork = new SmsTemplateService('America/New_York');
        expect(newYork.render('appointment_confirmed', { name: 'A', startsAt: '2024-01-15T14:30:00Z' }, 'en')).toContain(
          'on Monday, January 15, 2024 at 9:30 AM',
        );
      });

      it('writes the first day of a month "1er" in French', () => {
        expect(sut.render('appointment_confirmed', { name: 'A', startsAt: '2024-02-01T09:00:00+01:00' })).toContain(
          'du jeudi 1er février 2024 à 09:00',
        );
        expect(sut.render('appointment_confirmed', { name: 'A', startsAt: '2024-02-01T09:00:00+01:00' }, 'en')).toContain(
          'Thursday, February 1, 2024 at 9:00 AM',
        );
      });

      it('writes "aout" without circumflex so an August SMS stays GSM-7', () => {
        const text = sut.render('appointment_reminder', { name: 'Jean Dupont', startsAt: '2024-08-12T10:00:00+02:00' });
        expect(text).toContain('du lundi 12 aout 2024 à 10:00');
        expect(analyzeSmsBody(text).encoding).toBe('GSM-7');
      });

      it('writes English times with a plain space before AM/PM (GSM-7, not a narrow no-break space)', () => {
        const text = sut.render('appointment_confirmed', { name: 'A', startsAt: '2024-01-15T23:05:00+01:00' }, 'en');
        expect(text).toContain('at 11:05 PM');
        expect(analyzeSmsBody(text).encoding).toBe('GSM-7');
      });

      it.each(['2024-01-15T14:30Z', '2024-01-15T14:30:00.123+01:00', '2024-01-15T14:30:00+0100', '  2024-01-15T13:30:00Z  '])(
        'accepts the ISO 8601 form %j',
        (startsAt) => {
          expect(sut.render('appointment_confirmed', { name: 'A', startsAt })).toContain('lundi 15 janvier 2024');
        },
      );

      it('accepts a Date object from another module', () => {
        expect(sut.render('appointment_confirmed', { name: 'A', startsAt: new Date('2024-01-15T13:30:00Z') })).toContain(
          'du lundi 15 janvier 2024 à 14:30',
        );
      });

      it('takes precedence over date and time given as text', () => {
        const text = sut.render('appointment_confirmed', { name: 'A', date: 'demain', time: 'midi', startsAt: '2024-01-15T13:30:00Z' });
        expect(text).toContain('du lundi 15 janvier 2024 à 14:30');
        expect(text).not.toMatch(/demain|midi/);
      });

      it.each([
        'demain',
        '2024-01-15',
        '2024-01-15T14:30:00',
        '2024-01-15_14:30:00Z',
        '2024-02-30T10:00:00Z',
        '2023-02-29T10:00:00Z',
        '2024-13-01T10:00:00Z',
        '2024-01-15T24:00:00Z',
        '2024-01-15T14:60:00Z',
        '2024-01-15T14:30:00+25:00',
        '15/01/2024 14:30',
        '1705325400000',
      ])('refuses the invalid startsAt %j', (startsAt) => {
        const error = errorOf(() => sut.render('appointment_confirmed', { name: 'A', startsAt }));
        expect(error).toMatchObject({ field: 'startsAt', problem: 'invalid_date' });
        expect(error.message).toMatch(/ISO 8601/);
      });

      it('refuses an invalid Date object', () => {
        expect(errorOf(() => sut.render('appointment_confirmed', { name: 'A', startsAt: new Date('nope') }))).toMatchObject({
          field: 'startsAt',
          problem: 'invalid_date',
        });
      });

      it('is ignored by types without a date', () => {
        expect(sut.render('message_received', { name: 'A', startsAt: 'not a date' })).toBe(
          'Bonjour A, vous avez un nouveau message. Lisez-le dans votre espace personnel.',
        );
      });
    });

    describe('data checks', () => {
      it.each(APPOINTMENT_TYPES)('requires date and time, or startsAt, for %s', (type) => {
        const error = errorOf(() => sut.render(type, { name: 'A' }));
        expect(error).toMatchObject({ field: 'date', problem: 'missing' });
        expect(error.message).toContain('date and time are required (as text), or startsAt');
      });

      it('names time when only the date is given', () => {
        const error = errorOf(() => sut.render('appointment_confirmed', { name: 'A', date: 'lundi' }));
        expect(error).toMatchObject({ field: 'time', problem: 'missing' });
        expect(error.message).toMatch(/missing: time$/);
      });

      it('names date when only the time is given, blank', () => {
        const error = errorOf(() => sut.render('appointment_confirmed', { name: 'A', date: '  ', time: '14:30' }));
        expect(error).toMatchObject({ field: 'date', problem: 'empty' });
      });

      it.each(NOTIFICATION_TYPES)('requires name for %s', (type) => {
        expect(errorOf(() => sut.render(type, { ...EXAMPLE, name: undefined }))).toMatchObject({
          field: 'name',
          problem: 'missing',
          message: 'name is required',
        });
      });

      it.each([[''], ['   '], ['\n\t']])('refuses the blank name %j', (name) => {
        expect(errorOf(() => sut.render('dossier_updated', { name }))).toMatchObject({ field: 'name', problem: 'empty' });
      });

      it('treats a null name as missing', () => {
        expect(errorOf(() => sut.render('dossier_updated', { name: null }))).toMatchObject({ field: 'name', problem: 'missing' });
      });

      it.each([[true], [{ first: 'Jean' }], [['Jean']], [Number.NaN], [Number.POSITIVE_INFINITY]])(
        'refuses the non-text name %j',
        (name) => {
          expect(errorOf(() => sut.render('dossier_updated', { name }))).toMatchObject({ field: 'name', problem: 'not_text' });
        },
      );

      it('refuses a non-text optional value too', () => {
        expect(errorOf(() => sut.render('dossier_updated', { name: 'A', reference: { id: 1 } }))).toMatchObject({
          field: 'reference',
          problem: 'not_text',
        });
      });

      it('accepts numbers as text', () => {
        expect(sut.render('dossier_updated', { name: 'A', reference: 20240042 })).toContain('votre dossier 20240042 a été');
        expect(sut.render('appointment_confirmed', { name: 'A', date: 'lundi 15 janvier 2024', time: 14 })).toContain('à 14 est');
      });

      it('trims values', () => {
        expect(sut.render('dossier_updated', { name: '  Jean Dupont \n', reference: ' D-1 ' })).toBe(
          'Bonjour Jean Dupont, votre dossier D-1 a été mis à jour. Plus de détails dans votre espace personnel.',
        );
      });

      it('treats blank, null and undefined optional values as absent', () => {
        const bare = sut.render('dossier_updated', { name: 'A' });
        expect(sut.render('dossier_updated', { name: 'A', reference: '   ', status: null })).toBe(bare);
        expect(sut.render('dossier_updated', { name: 'A', reference: undefined, status: '' })).toBe(bare);
      });

      it('ignores fields the type does not declare (other modules may pass a whole record)', () => {
        expect(sut.render('message_received', { name: 'A', reference: 'D-1', extra: { deep: true } })).toBe(
          sut.render('message_received', { name: 'A' }),
        );
      });

      it("refuseUndeclaredFields (a client's data): names a field the type does not declare, and the type's fields", () => {
        const error = errorOf(() =>
          sut.refuseUndeclaredFields('appointment_confirmed', { name: 'A', startsAt: '2030-01-15T14:30:00+01:00', locaton: 'Lyon' }),
        );
        expect(error).toMatchObject({ field: 'data.locaton', problem: 'unknown_field' });
        expect(error.message).toBe(
          'data.locaton is not a field of appointment_confirmed; its fields: name, date, time, startsAt, location',
        );
        expect(errorOf(() => sut.refuseUndeclaredFields('message_received', { name: 'A', startsAt: 'x' }))).toMatchObject({
          field: 'data.startsAt',
        });
        const odd = errorOf(() => sut.refuseUndeclaredFields('message_received', { name: 'A', 'a b': 2 }));
        expect(odd).toMatchObject({
          field: 'data',
          message: 'data has "a b", which is not a field of message_received; its fields: name, sender',
        });
      });

      it('refuseUndeclaredFields lets declared fields through, and leaves an unknown type or non-object data to render', () => {
        expect(() => sut.refuseUndeclaredFields('dossier_updated', { name: 'A', reference: 'D-1', status: 'ok' })).not.toThrow();
        expect(() => sut.refuseUndeclaredFields('nope', { x: 1 })).not.toThrow();
        expect(() => sut.refuseUndeclaredFields('dossier_updated', ['x'])).not.toThrow();
        expect(() => sut.refuseUndeclaredFields('dossier_updated', null)).not.toThrow();
      });

      it('refuses a value holding a placeholder: never re-read as a template, nor sent as written to the client', () => {
        expect(errorOf(() => sut.render('message_received', { name: '{{first_name}}' }))).toMatchObject({
          field: 'name',
          problem: 'placeholder',
          message: 'name must not contain {{ or }} (a placeholder left unfilled would reach the client as written)',
        });
        expect(errorOf(() => sut.render('message_received', { name: 'A', sender: '{{#sender}}x{{/sender}}' }))).toMatchObject({
          field: 'sender',
          problem: 'placeholder',
        });
        // A single brace is text.
        expect(sut.render('message_received', { name: 'Jean {Dupont}' })).toContain('Bonjour Jean {Dupont},');
      });

      it.each([
        [{ date: 'mardi 16 janvier 2024' }, 'date'],
        [{ time: '16:00' }, 'time'],
        [{ date: 'mardi 16 janvier 2024', time: '16:00' }, 'date'],
      ])('refuses startsAt given with %j (they could disagree), naming data.%s', (extra, field) => {
        const error = errorOf(() =>
          sut.refuseUndeclaredFields('appointment_confirmed', { name: 'A', startsAt: '2024-01-15T14:30:00+01:00', ...extra }),
        );
        expect(error).toMatchObject({ field: `data.${field}`, problem: 'conflicting' });
        expect(error.message).toBe(
          `data.${field} and data.startsAt were both given; give either startsAt or date and time as text, not both`,
        );
      });

      it('lets startsAt through with date and time left empty, and date and time alone', () => {
        expect(() =>
          sut.refuseUndeclaredFields('appointment_confirmed', { name: 'A', startsAt: '2024-01-15T14:30:00+01:00', date: null, time: ' ' }),
        ).not.toThrow();
        expect(() =>
          sut.refuseUndeclaredFields('appointment_confirmed', { name: 'A', startsAt: '', date: 'demain', time: 'midi' }),
        ).not.toThrow();
      });

      it.each([[null], [undefined], ['Jean'], [['Jean']]])('refuses the data %j when it is not an object', (data) => {
        expect(errorOf(() => sut.render('message_received', data as never))).toMatchObject({ field: 'data', problem: 'not_an_object' });
      });
    });

    describe('types', () => {
      it('renders the internal appointment_rescheduled type', () => {
        expect(INTERNAL_NOTIFICATION_TYPES).toEqual(['appointment_rescheduled']);
        expect(sut.render('appointment_rescheduled', EXAMPLE)).toContain('a été déplacé au lundi 15 janvier 2024 à 14:30');
      });

      it.each(['appointment_created', 'APPOINTMENT_CONFIRMED', '', 'toString', '__proto__'])(
        'refuses the unknown type %j and lists the valid ones',
        (type) => {
          const error = errorOf(() => sut.render(type, EXAMPLE));
          expect(error).toMatchObject({ field: 'type', problem: 'unknown_type', allowed: [...NOTIFICATION_TYPES] });
          expect(error.message).toContain(NOTIFICATION_TYPES.join(', '));
        },
      );
    });

    describe('locales', () => {
      it('uses French by default', () => {
        expect(sut.render('message_received', { name: 'A' })).toMatch(/^Bonjour A,/);
        expect(sut.render('message_received', { name: 'A' }, '')).toMatch(/^Bonjour A,/);
      });

      it.each(['fr-FR', 'fr_CA', 'FR', ' fr '])('reads %j as French', (locale) => {
        expect(sut.render('message_received', { name: 'A' }, locale)).toMatch(/^Bonjour A,/);
      });

      it.each(['en', 'en-GB', 'en-US', 'EN_us'])('reads %j as English', (locale) => {
        expect(sut.render('message_received', { name: 'A' }, locale)).toMatch(/^Hello A,/);
      });

      it.each(['de', 'de-DE', 'english', 'f', 'french'])('refuses the unsupported locale %j and lists the supported ones', (locale) => {
        const error = errorOf(() => sut.render('message_received', { name: 'A' }, locale));
        expect(error).toMatchObject({ field: 'locale', problem: 'unsupported_locale', allowed: ['fr', 'en'] });
        expect(error.message).toContain('supported: fr, en');
      });
    });
  });

  describe('list', () => {
    it('describes the six public types, in order, without the internal one', () => {
      expect(sut.list().map((entry) => entry.type)).toEqual([...NOTIFICATION_TYPES]);
    });

    it('declares the fields of each type, with name always required', () => {
      const fields = Object.fromEntries(sut.list().map((entry) => [entry.type, entry.fields.map((field) => field.name)]));
      expect(fields).toEqual({
        appointment_confirmed: ['name', 'date', 'time', 'startsAt', 'location'],
        appointment_reminder: ['name', 'date', 'time', 'startsAt', 'location'],
        appointment_cancelled: ['name', 'date', 'time', 'startsAt', 'location', 'reason'],
        dossier_updated: ['name', 'reference', 'status'],
        document_uploaded: ['name', 'documentName'],
        message_received: ['name', 'sender'],
      });
      for (const entry of sut.list()) {
        expect(entry.fields[0]).toMatchObject({ name: 'name', required: true });
        for (const field of entry.fields) {
          expect(field).toEqual({
            name: expect.any(String),
            required: expect.any(Boolean),
            ...(field.requiredUnless ? { requiredUnless: 'startsAt' } : {}),
            description: expect.any(String),
            example: expect.any(String),
          });
        }
      }
    });

    it('marks date and time as required unless startsAt is given', () => {
      const confirmed = sut.list().find((entry) => entry.type === 'appointment_confirmed')!;
      expect(confirmed.fields.filter((field) => field.required).map((field) => [field.name, field.requiredUnless])).toEqual([
        ['name', undefined],
        ['date', 'startsAt'],
        ['time', 'startsAt'],
      ]);
    });

    it('renders each example from the field examples, leaving startsAt out', () => {
      for (const entry of sut.list()) {
        expect(entry.example.data).not.toHaveProperty('startsAt');
        expect(entry.example.text).toBe(sut.render(entry.type, entry.example.data));
      }
      const confirmed = sut.list().find((entry) => entry.type === 'appointment_confirmed')!;
      expect(confirmed.example).toEqual({
        data: { name: 'Jean Dupont', date: 'lundi 15 janvier 2024', time: '14:30', location: '12 rue de la Paix, Paris' },
        text: 'Bonjour Jean Dupont, votre rendez-vous du lundi 15 janvier 2024 à 14:30 est confirmé. Lieu : 12 rue de la Paix, Paris.',
      });
    });

    it('gives the startsAt example in a form render accepts', () => {
      for (const entry of sut.list()) {
        const startsAt = entry.fields.find((field) => field.name === 'startsAt');
        if (startsAt) expect(() => sut.render(entry.type, { name: 'A', startsAt: startsAt.example })).not.toThrow();
      }
    });

    it('describes and exemplifies in the requested locale', () => {
      const [confirmed] = sut.list('en-GB');
      expect(confirmed.description).toBe('Appointment confirmation');
      expect(confirmed.example.text).toBe(
        'Hello Jean Dupont, your appointment on Monday, January 15, 2024 at 2:30 PM is confirmed. Location: 12 rue de la Paix, Paris.',
      );
    });

    it('keeps every example text in one GSM-7 SMS', () => {
      for (const locale of SUPPORTED_LOCALES) {
        for (const entry of sut.list(locale)) {
          expect(analyzeSmsBody(entry.example.text), `${locale} ${entry.type}`).toMatchObject({ encoding: 'GSM-7', segments: 1 });
        }
      }
    });

    it('returns copies of the field declarations', () => {
      sut.list()[0].fields[0].required = false;
      expect(sut.list()[0].fields[0].required).toBe(true);
    });

    it('refuses an unsupported locale', () => {
      expect(errorOf(() => sut.list('it'))).toMatchObject({ field: 'locale', problem: 'unsupported_locale' });
    });
  });
});
