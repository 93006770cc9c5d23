import { BadRequestException, ValidationError, ValidationPipe } from '@nestjs/common';

function collect(errors: ValidationError[], prefix = ''): { field: string; problems: string[] }[] {
  return errors.flatMap((error) => {
    const field = prefix ? `${prefix}.${error.property}` : error.property;
    const own = error.constraints ? [{ field, problems: Object.values(error.constraints) }] : [];
    return [...own, ...collect(error.children ?? [], field)];
  });
}

/**
 * Global validation: unknown fields refused, payloads transformed to DTO classes, and one 400 body
 * naming each field and its problem.
 */
export function createValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    transformOptions: { enableImplicitConversion: false },
    exceptionFactory: (errors) => {
      const details = collect(errors);
      // class-validator's messages start with the property name; nested ones also need their path.
      const message = details.map((d) => (d.field.includes('.') ? `${d.field}: ` : '') + d.problems.join(', ')).join('; ');
      return new BadRequestException({ message: message || 'Validation failed', details });
    },
  });
}
