import { applyDecorators } from '@nestjs/common';
import { Transform } from 'class-transformer';
import { IsDate } from 'class-validator';

/**
 * An ISO 8601 date-time in a query or body, turned into a Date; anything unparseable is refused
 * with "<field> must be an ISO 8601 date-time".
 */
export function IsIsoDateTime(): PropertyDecorator {
  return applyDecorators(
    Transform(({ value }) => {
      if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(value)) {
        return value instanceof Date ? value : new Date(NaN);
      }
      return new Date(value);
    }),
    IsDate({ message: ({ property }) => `${property} must be an ISO 8601 date-time such as 2024-01-15T14:30:00Z` }),
  );
}
