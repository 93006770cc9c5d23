import { type ArgumentMetadata, BadRequestException, ValidationError, ValidationPipe } from '@nestjs/common';
import { problemsInList } from './dto/validators.js';

/**
 * Which constraint speaks first when a field breaks several: the one about the field's presence,
 * then its kind (a string, a number, one of…), then the rest in declaration order. A missing
 * `message` is told "message is required", not also that it must be a string and not too long.
 */
const PRIORITY = [
  'whitelistValidation',
  'isDefined',
  'isNotEmpty',
  'isString',
  'isInt',
  'isNumber',
  'isBoolean',
  'isArray',
  'isObject',
  'isEnum',
  'isIn',
  'nestedValidation',
];

const rank = (name: string): number => {
  const index = PRIORITY.indexOf(name);
  return index === -1 ? PRIORITY.length : index;
};

/** The one problem reported for a field. */
export function firstProblem(error: ValidationError, field: string): string | undefined {
  const constraints = error.constraints;
  if (!constraints || Object.keys(constraints).length === 0) return undefined;
  if (error.value === undefined && !('whitelistValidation' in constraints)) return `${field} is required`;
  const [name] = Object.keys(constraints).sort((a, b) => rank(a) - rank(b));
  return constraints[name!];
}

function collect(errors: ValidationError[], prefix = ''): { field: string; problems: string[] }[] {
  return errors.flatMap((error) => {
    const field = prefix ? `${prefix}.${error.property}` : error.property;
    // A list checked by IsObjectList names each item's problem, as nested validation would.
    const listed = error.constraints?.isObjectList ? problemsInList(error.value) : undefined;
    if (listed) return listed.map((p) => ({ field: `${field}.${p.path}`, problems: [p.problem] }));
    const problem = firstProblem(error, field);
    const own = problem ? [{ field, problems: [problem] }] : [];
    return [...own, ...collect(error.children ?? [], field)];
  });
}

/**
 * Global validation: unknown fields refused, payloads transformed to DTO classes, and one 400 body
 * naming each field and its first problem (`details: [{field, problems: [one message]}]`).
 */
export function createValidationPipe(): ValidationPipe {
  return new BodyValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    transformOptions: { enableImplicitConversion: false },
    exceptionFactory: (errors) => {
      const details = collect(errors);
      // class-validator's messages start with the property name; nested ones also need their path.
      const message = details
        .map((d) => (d.field.includes('.') && !d.problems[0]!.startsWith(d.field) ? `${d.field}: ` : '') + d.problems[0])
        .join('; ');
      return new BadRequestException({ message: message || 'Validation failed', details });
    },
  });
}

/**
 * A route's body is one JSON object: an array, a string, a number or null is refused as such (`body must be a JSON object,
 * not an array`), not field by field (`property 0 should not exist; to is required…`).
 */
class BodyValidationPipe extends ValidationPipe {
  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    if (
      metadata.type === 'body' &&
      metadata.metatype &&
      this.toValidate(metadata) &&
      value !== undefined &&
      (typeof value !== 'object' || value === null || Array.isArray(value))
    ) {
      const got = Array.isArray(value) ? 'an array' : value === null ? 'null' : `a ${typeof value}`;
      const message = `body must be a JSON object, not ${got}`;
      throw new BadRequestException({ message, details: [{ field: 'body', problems: [message] }] });
    }
    return super.transform(value, metadata);
  }
}
