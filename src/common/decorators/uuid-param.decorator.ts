import { BadRequestException, Param, type PipeTransform } from '@nestjs/common';
import { ApiParam } from '@nestjs/swagger';
import { isUUID } from 'class-validator';

/**
 * A path parameter that must be a UUID: refused with a 400 naming it (`id must be a UUID`) in the common
 * error shape, and lower-cased, as ids are stored (an upper-case spelling finds the same row on SQLite too).
 */
class UuidPipe implements PipeTransform<string, string> {
  constructor(private readonly name: string) {}

  transform(value: string): string {
    if (typeof value === 'string' && isUUID(value)) return value.toLowerCase();
    const problem = `${this.name} must be a UUID (such as 0b0f8c5e-6a4d-4f7e-9a3c-2d1e5f6a7b8c)`;
    throw new BadRequestException({ message: problem, details: [{ field: this.name, problems: [problem] }] });
  }
}

/** The path parameter `name`, a UUID (documented as one: `format: uuid`, with an example). */
export const UuidParam =
  (name: string): ParameterDecorator =>
  (target, key, index) => {
    Param(name, new UuidPipe(name))(target, key, index);
    const descriptor = key === undefined ? undefined : Object.getOwnPropertyDescriptor(target, key);
    if (descriptor)
      ApiParam({ name, type: String, format: 'uuid', example: '0b0f8c5e-6a4d-4f7e-9a3c-2d1e5f6a7b8c' })(target, key!, descriptor);
  };
