import { ArgumentMetadata, BadRequestException } from '@nestjs/common';
import { Type } from 'class-transformer';
import { IsNotEmpty, IsOptional, IsString, MaxLength, ValidateNested } from 'class-validator';
import { createValidationPipe } from './validation.js';

class Item {
  @IsString()
  @IsNotEmpty()
  phone!: string;
}

class Payload {
  @IsString()
  @IsNotEmpty()
  @MaxLength(10)
  message!: string;

  @IsOptional()
  @ValidateNested({ each: true })
  @Type(() => Item)
  items?: Item[];
}

const metadata: ArgumentMetadata = { type: 'body', metatype: Payload };

async function refusal(value: unknown): Promise<{ message: string; details: { field: string; problems: string[] }[] }> {
  try {
    await createValidationPipe().transform(value, metadata);
  } catch (error) {
    if (error instanceof BadRequestException) return error.getResponse() as never;
    throw error;
  }
  throw new Error('expected a 400');
}

describe('createValidationPipe', () => {
  it('should report one problem for a missing field, not every constraint', async () => {
    const body = await refusal({});
    expect(body.details).toEqual([{ field: 'message', problems: ['message is required'] }]);
    expect(body.message).toBe('message is required');
  });

  it('should report the kind before the length', async () => {
    const body = await refusal({ message: 12345678901 });
    expect(body.details).toEqual([{ field: 'message', problems: ['message must be a string'] }]);
  });

  it('should report one problem per field, nested fields with their path', async () => {
    const body = await refusal({ message: 'x'.repeat(11), items: [{ phone: '' }], extra: 1 });
    expect(body.details).toEqual(
      expect.arrayContaining([
        { field: 'message', problems: [expect.stringMatching(/shorter than or equal to 10/)] },
        { field: 'items.0.phone', problems: ['phone should not be empty'] },
        { field: 'extra', problems: ['property extra should not exist'] },
      ]),
    );
    expect(body.details).toHaveLength(3);
    expect(body.message).toContain('items.0.phone: phone should not be empty');
    expect(body.details.every((d) => d.problems.length === 1)).toBe(true);
  });
});
