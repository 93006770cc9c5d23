import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import {
  IsBool,
  IsEmailAddress,
  IsIntegerInRange,
  IsObjectList,
  IsOneOf,
  IsText,
  Nullable,
  Optional,
  problemsInList,
  textRule,
  ToInteger,
} from './validators.js';

class Sample {
  @IsText({ max: 5 }) text: string;
  @Optional() @IsOneOf(['fr', 'en']) locale?: string;
  @Nullable() @IsText({ max: 5, min: 0 }) note?: string | null;
  @Optional() @ToInteger() @IsIntegerInRange(1, 10) page?: number;
  @Optional() @IsBool() flag?: boolean;
  @Optional() @IsEmailAddress(20) email?: string;
  @Optional()
  @IsObjectList('must be an array of objects', 'must not be empty', {
    phone: { rule: textRule({ max: 4, min: 0 }) },
    name: { rule: textRule({ max: 3 }), optional: true },
  })
  list?: unknown;
}

/** The problems of each invalid field, for a plain payload. */
function problems(plain: Record<string, unknown>): Record<string, string[]> {
  const errors = validateSync(plainToInstance(Sample, plain), { forbidUnknownValues: false });
  return Object.fromEntries(errors.map((e) => [e.property, Object.values(e.constraints ?? {})]));
}

describe('DTO validators: one message per failure', () => {
  it('IsText says what is wrong, once', () => {
    expect(problems({})).toEqual({ text: ['text is required'] });
    expect(problems({ text: null })).toEqual({ text: ['text must be a string, not null'] });
    expect(problems({ text: 3 })).toEqual({ text: ['text must be a string'] });
    expect(problems({ text: '  ' })).toEqual({ text: ['text must not be empty'] });
    expect(problems({ text: '123456' })).toEqual({ text: ['text must be at most 5 characters'] });
    expect(problems({ text: 'ok' })).toEqual({});
  });

  it("IsText's `visible`: a text of nothing but invisible or control characters is empty too", () => {
    const rule = textRule({ max: 20, visible: true });
    const invisible = 'must not be empty (it holds only invisible or control characters)';
    for (const value of ['\u200b', '\u00ad', '\u200e\u200f', '\u0007', ' \u2060 \ufeff ']) expect(rule(value)).toBe(invisible);
    expect(rule('Jean\u200b')).toBeNull();
    expect(rule('👨\u200d👩')).toBeNull();
    // `noPlaceholder`: {{ or }}, also split by a character dropped when the value is written in.
    const names = textRule({ max: 40, noPlaceholder: true });
    for (const value of ['{{prenom}}', 'Jean }}', '{\u00ad{prenom}\u200b}']) expect(names(value)).toMatch(/^must not contain \{\{ or \}\}/);
    expect(names('Jean {Dupont}')).toBeNull();
    // Without it, such a text passes (a password may be anything).
    expect(textRule({ max: 20 })('\u200b')).toBeNull();
  });

  it('Optional skips only a missing field; Nullable also lets null through (to clear a value)', () => {
    expect(problems({ text: 'ok', locale: null })).toEqual({ locale: ['locale must be one of: fr, en'] });
    expect(problems({ text: 'ok', locale: 'de' })).toEqual({ locale: ['locale must be one of: fr, en'] });
    expect(problems({ text: 'ok', note: null })).toEqual({});
    expect(problems({ text: 'ok', note: '' })).toEqual({});
    expect(problems({ text: 'ok', flag: null })).toEqual({ flag: ['flag must be true or false'] });
    expect(problems({ text: 'ok', flag: 'true' })).toEqual({ flag: ['flag must be true or false'] });
  });

  it('ToInteger + IsIntegerInRange take digits only, within bounds', () => {
    for (const page of ['1e21', '1.5', 'abc', '', '0', '11', ['1', '2'], 1e21, null]) {
      expect(problems({ text: 'ok', page }), JSON.stringify(page)).toEqual({ page: ['page must be an integer from 1 to 10'] });
    }
    expect(problems({ text: 'ok', page: '10' })).toEqual({});
    expect(plainToInstance(Sample, { page: '7' }).page).toBe(7);
  });

  it('IsEmailAddress refuses a lone surrogate instead of throwing', () => {
    expect(problems({ text: 'ok', email: '\ud800@x.io' })).toEqual({ email: ['email must be an email address'] });
    expect(problems({ text: 'ok', email: 'a@example.com' })).toEqual({});
    // No top-level domain needed, as for ADMIN_EMAIL (the first admin is admin@localhost); still a whole address.
    expect(problems({ text: 'ok', email: 'ops@localhost' })).toEqual({});
    for (const email of ['ops@', '@localhost', 'ops localhost', 'ops@local host']) {
      expect(problems({ text: 'ok', email }), email).toEqual({ email: ['email must be an email address'] });
    }
    expect(problems({ text: 'ok', email: 'a'.repeat(20) + '@x.io' })).toEqual({
      email: ['email must be an email address of at most 20 characters'],
    });
  });

  it('IsObjectList refuses what is not a non-empty array of objects, at the list', () => {
    for (const list of [[[{ phone: '1' }]], {}, { phone: '1' }, null, 'x', 3]) {
      expect(problems({ text: 'ok', list }), JSON.stringify(list)).toEqual({ list: ['list must be an array of objects'] });
    }
    expect(problems({ text: 'ok', list: [] })).toEqual({ list: ['list must not be empty'] });
    expect(problems({ text: 'ok', list: [{ phone: '1' }, { phone: '', name: 'abc' }] })).toEqual({});
  });

  it('IsObjectList names every problem of every item with its path, in order, in one pass', () => {
    const list = [{ phone: '1' }, 7, { name: 'abcd', extra: 1 }, null, { phone: 12345, name: null }, { phone: '12345' }];
    const sample = plainToInstance(Sample, { text: 'ok', list });
    // The first problem is the field's message; the pipe lists them all (src/common/validation.ts).
    expect(validateSync(sample).map((e) => e.constraints)).toEqual([{ isObjectList: 'list must be an array of objects' }]);
    expect(problemsInList(sample.list)).toEqual([
      { path: '1', problem: 'list must be an array of objects' },
      { path: '2.extra', problem: 'property extra should not exist' },
      { path: '2.phone', problem: 'list.2.phone is required' },
      { path: '2.name', problem: 'name must be at most 3 characters' },
      { path: '3', problem: 'list must be an array of objects' },
      { path: '4.phone', problem: 'phone must be a string' },
      { path: '4.name', problem: 'name must be a string, not null' },
      { path: '5.phone', problem: 'phone must be at most 4 characters' },
    ]);
    const valid = plainToInstance(Sample, { text: 'ok', list: [{ phone: '1' }] });
    expect(validateSync(valid)).toEqual([]);
    expect(problemsInList(valid.list)).toBeUndefined();
  });
});
