import { ArgumentMetadata, BadRequestException } from '@nestjs/common';
import { Type } from 'class-transformer';
import { IsNotEmpty, IsOptional, IsString, MaxLength, ValidateNested } from 'class-validator';
import { IsObjectList, textRule } from './dto/validators.js';
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

  @IsOptional()
  @IsObjectList('must be a list of objects', 'must not be empty', { phone: { rule: textRule({ max: 5 }) } })
  list?: unknown;
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

  it('should name each problem IsObjectList found in a list with its path, like nested validation', async () => {
    const body = await refusal({ message: 'ok', list: [{ phone: '1' }, 'x', { phone: '123456', extra: 1 }, {}] });
    expect(body.details).toEqual([
      { field: 'list.1', problems: ['list must be a list of objects'] },
      { field: 'list.2.extra', problems: ['property extra should not exist'] },
      { field: 'list.2.phone', problems: ['phone must be at most 5 characters'] },
      { field: 'list.3.phone', problems: ['list.3.phone is required'] },
    ]);
    expect(body.message).toBe(
      'list.1: list must be a list of objects; list.2.extra: property extra should not exist; ' +
        'list.2.phone: phone must be at most 5 characters; list.3.phone is required',
    );
    const notAList = await refusal({ message: 'ok', list: { phone: '1' } });
    expect(notAList.details).toEqual([{ field: 'list', problems: ['list must be a list of objects'] }]);
  });
});
