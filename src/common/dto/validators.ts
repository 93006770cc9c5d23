import { Transform } from 'class-transformer';
import { ValidateIf, ValidationArguments, ValidationOptions, isEmail, registerDecorator } from 'class-validator';
import { inlineText, placeholderProblem } from '../inline-text.js';

/**
 * The field may be left out (`undefined`), but `null` is validated like any other value, so it is refused by the
 * field's own rule ("role must be one of …") instead of reaching the database or argon2.
 *
 * class-validator's `@IsOptional()` skips `null` too; use it only where null has a meaning (see {@link Nullable}).
 */
export function Optional(): PropertyDecorator {
  return ValidateIf((_object, value: unknown) => value !== undefined);
}

/**
 * The field may be left out, or be `null` to clear a stored value (a user's name or phone, an appointment's
 * location or notes). Document it with `nullable: true` in the Swagger property.
 */
export function Nullable(): PropertyDecorator {
  return ValidateIf((_object, value: unknown) => value !== undefined && value !== null);
}

function register(name: string, check: (value: unknown) => string | null, options?: ValidationOptions): PropertyDecorator {
  return (target: object, propertyName: string | symbol) => {
    registerDecorator({
      name,
      target: target.constructor,
      propertyName: propertyName as string,
      options,
      validator: {
        validate: (value: unknown) => check(value) === null,
        defaultMessage: (args?: ValidationArguments) => `${args?.property ?? String(propertyName)} ${check(args?.value)}`,
      },
    });
  };
}

export interface TextOptions {
  /** Longest accepted text, in characters. */
  max: number;
  /** Shortest accepted text (1 by default: an empty or whitespace-only text is refused). */
  min?: number;
  /** The message past `max` (default "must be at most N characters"). */
  tooLong?: string;
  /**
   * A text written into a client's SMS (an appointment's client name): one that is nothing once written in
   * (inlineText: zero-width spaces, direction marks, a soft hyphen, control characters and spaces only) is empty too.
   */
  visible?: boolean;
  /**
   * A text written into a client's SMS: `{{` or `}}` in it is refused (placeholderProblem).
   */
  noPlaceholder?: boolean;
}

/**
 * A required or optional text, checked by one rule so a failure gives one message: "is required" when missing,
 * "must be a string", "must not be empty" (whitespace only counts as empty), "must be at least N characters",
 * or "must be at most N characters".
 */
export function IsText(options: TextOptions): PropertyDecorator {
  return register('isText', textRule(options));
}

/** The rule behind {@link IsText}: the problem with `value` (without the field's name), or null. */
export function textRule(options: TextOptions): (value: unknown) => string | null {
  const { max, min = 1, tooLong, visible = false, noPlaceholder = false } = options;
  return (value) => {
    if (value === undefined) return 'is required';
    if (value === null) return 'must be a string, not null';
    if (typeof value !== 'string') return 'must be a string';
    if (value.trim() === '') return min > 0 ? 'must not be empty' : null;
    if (visible && min > 0 && inlineText(value) === '') return 'must not be empty (it holds only invisible or control characters)';
    if (noPlaceholder && placeholderProblem(value)) return placeholderProblem(value);
    if (value.length < min) return `must be at least ${min} characters long`;
    if (value.length > max) return tooLong ?? `must be at most ${max} characters`;
    return null;
  };
}

/** An integer between `min` and `max` (a query string is converted first, see {@link ToInteger}), one message. */
export function IsIntegerInRange(min: number, max: number): PropertyDecorator {
  return register('isIntegerInRange', (value) => {
    if (value === undefined) return 'is required';
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
      return `must be an integer from ${min} to ${max}`;
    }
    return null;
  });
}

/** One of `values`, one message naming them. */
export function IsOneOf(values: readonly string[]): PropertyDecorator {
  return register('isOneOf', (value) => {
    if (value === undefined) return 'is required';
    return typeof value === 'string' && values.includes(value) ? null : `must be one of: ${values.join(', ')}`;
  });
}

/** true or false (JSON booleans only), one message. */
export function IsBool(): PropertyDecorator {
  return register('isBool', (value) => {
    if (value === undefined) return 'is required';
    return typeof value === 'boolean' ? null : 'must be true or false';
  });
}

/**
 * A query-string integer: digits only become a number; anything else ("1e21", "1.5", "abc", a repeated
 * parameter) stays as given and is refused by {@link IsIntegerInRange}.
 */
export function ToInteger(): PropertyDecorator {
  return Transform(({ value }: { value: unknown }) => (typeof value === 'string' && /^[0-9]{1,15}$/.test(value) ? Number(value) : value));
}

/**
 * An email address of at most `max` characters, one message (a malformed string such as a lone surrogate too). Its
 * domain needs no top-level domain (`ops@localhost`, `ops@intranet`), as ADMIN_EMAIL: the first admin is
 * `admin@localhost` by default, and an account's email is its sign-in name, never written to.
 */
export function IsEmailAddress(max = 254): PropertyDecorator {
  return register('isEmailAddress', (value) => {
    if (value === undefined) return 'is required';
    if (typeof value !== 'string' || value.length > max) return `must be an email address of at most ${max} characters`;
    try {
      return isEmail(value, { require_tld: false }) ? null : 'must be an email address';
    } catch {
      return 'must be an email address';
    }
  });
}

/** A field of the objects in an {@link IsObjectList}: its rule (the problem, without the field's name, or null). */
export interface ListItemField {
  rule: (value: unknown) => string | null;
  /** Left out (`undefined`) is fine; `null` is still given to the rule. */
  optional?: boolean;
}

/** One problem found in a list: `path` below the list's field (`3`, `3.phone`), and the message. */
export interface ListProblem {
  path: string;
  problem: string;
}

/** What {@link IsObjectList} found in a refused list, for the validation pipe's answer (src/common/validation.ts). */
const listProblems = new WeakMap<object, ListProblem[]>();

/** The problems {@link IsObjectList} found in `list` (the value it refused), each with its path; undefined if none. */
export function problemsInList(list: unknown): ListProblem[] | undefined {
  return typeof list === 'object' && list !== null ? listProblems.get(list) : undefined;
}

/**
 * A non-empty array of objects whose fields follow `fields`, checked by one loop over the array (class-validator's
 * nested validation costs tens of microseconds per element: a 10,000-recipient bulk spent about 100 ms in it).
 * The answer is the one nested validation gives, one problem per field: `recipients` when the value is not an array
 * (or holds an array), `recipients.3` for an item that is not an object, `recipients.3.extra` for an unknown field
 * ("property extra should not exist"), `recipients.3.phone` for a field its rule refuses.
 */
export function IsObjectList(message: string, emptyMessage: string, fields: Record<string, ListItemField>): PropertyDecorator {
  const names = Object.keys(fields);
  const own = (value: unknown): string | null => {
    if (value === undefined) return 'is required';
    if (!Array.isArray(value)) return message;
    if (value.length === 0) return emptyMessage;
    return value.some((item) => Array.isArray(item)) ? message : null;
  };
  const items = (list: unknown[], property: string): ListProblem[] => {
    const problems: ListProblem[] = [];
    for (let i = 0; i < list.length; i++) {
      const item = list[i];
      if (typeof item !== 'object' || item === null) {
        problems.push({ path: String(i), problem: `${property} ${message}` });
        continue;
      }
      for (const key of Object.keys(item)) {
        if (!Object.hasOwn(fields, key)) problems.push({ path: `${i}.${key}`, problem: `property ${key} should not exist` });
      }
      for (const name of names) {
        const value = (item as Record<string, unknown>)[name];
        if (value === undefined) {
          if (!fields[name]!.optional) problems.push({ path: `${i}.${name}`, problem: `${property}.${i}.${name} is required` });
          continue;
        }
        const problem = fields[name]!.rule(value);
        if (problem !== null) problems.push({ path: `${i}.${name}`, problem: `${name} ${problem}` });
      }
    }
    return problems;
  };
  return (target: object, propertyName: string | symbol) => {
    const property = propertyName as string;
    registerDecorator({
      name: 'isObjectList',
      target: target.constructor,
      propertyName: property,
      validator: {
        validate: (value: unknown) => {
          if (own(value) !== null) return false;
          const problems = items(value as unknown[], property);
          if (problems.length === 0) return true;
          listProblems.set(value as object, problems);
          return false;
        },
        defaultMessage: (args?: ValidationArguments) => {
          const problem = own(args?.value);
          if (problem !== null) return `${property} ${problem}`;
          return problemsInList(args?.value)?.[0]?.problem ?? `${property} ${message}`;
        },
      },
    });
  };
}
