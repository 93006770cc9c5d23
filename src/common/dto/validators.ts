import { Transform } from 'class-transformer';
import { ValidateIf, ValidationArguments, ValidationOptions, isEmail, registerDecorator } from 'class-validator';

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
}

/**
 * A required or optional text, checked by one rule so a failure gives one message: "is required" when missing,
 * "must be a string", "must not be empty" (whitespace only counts as empty), "must be at least N characters",
 * or "must be at most N characters".
 */
export function IsText(options: TextOptions): PropertyDecorator {
  const { max, min = 1, tooLong } = options;
  return register('isText', (value) => {
    if (value === undefined) return 'is required';
    if (value === null) return 'must be a string, not null';
    if (typeof value !== 'string') return 'must be a string';
    if (value.trim() === '') return min > 0 ? 'must not be empty' : null;
    if (value.length < min) return `must be at least ${min} characters long`;
    if (value.length > max) return tooLong ?? `must be at most ${max} characters`;
    return null;
  });
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

/** An email address of at most `max` characters, one message (a malformed string such as a lone surrogate too). */
export function IsEmailAddress(max = 254): PropertyDecorator {
  return register('isEmailAddress', (value) => {
    if (value === undefined) return 'is required';
    if (typeof value !== 'string' || value.length > max) return `must be an email address of at most ${max} characters`;
    try {
      return isEmail(value) ? null : 'must be an email address';
    } catch {
      return 'must be an email address';
    }
  });
}

/**
 * A non-empty array of objects (use with `@ValidateNested({ each: true, message })` and `@Type`, giving it the same
 * `message`): arrays inside the array are refused here, `null` and other non-objects by the nested validation, so
 * each failure gives one message.
 */
export function IsObjectList(message: string, emptyMessage: string): PropertyDecorator {
  return register('isObjectList', (value) => {
    if (value === undefined) return 'is required';
    if (value === null || typeof value !== 'object') return null;
    if (!Array.isArray(value)) return message;
    if (value.length === 0) return emptyMessage;
    return value.some((item) => Array.isArray(item)) ? message : null;
  });
}
