import { BadRequestException } from '@nestjs/common';

/** A Twilio webhook's form parameters (repeated keys arrive as arrays). */
export type WebhookForm = Record<string, string | string[] | undefined>;

/** A 400 in the common shape, naming the field. */
export function invalidField(field: string, problem: string): BadRequestException {
  const message = `${field} ${problem}`;
  return new BadRequestException({ message, details: [{ field, problems: [message] }] });
}

/** One form field as a string: a 400 naming it when it is missing (if required), repeated or malformed. */
export function formField(form: unknown, field: string, options: { required: true; pattern?: RegExp; max?: number }): string;
export function formField(form: unknown, field: string, options?: { required?: false; pattern?: RegExp; max?: number }): string | null;
export function formField(
  form: unknown,
  field: string,
  options: { required?: boolean; pattern?: RegExp; max?: number } = {},
): string | null {
  const value = typeof form === 'object' && form !== null ? (form as WebhookForm)[field] : undefined;
  if (value === undefined || value === '') {
    if (options.required) throw invalidField(field, 'is required');
    return null;
  }
  if (typeof value !== 'string') throw invalidField(field, 'must be given once');
  if (options.max !== undefined && value.length > options.max) throw invalidField(field, `must be at most ${options.max} characters`);
  if (options.pattern && !options.pattern.test(value)) throw invalidField(field, 'is malformed');
  return value;
}

/** Twilio resource SIDs: two letters and 32 hex digits (SM…, MM…); our dry-run SIDs are longer. */
export const MESSAGE_SID = /^[A-Z]{2}[0-9A-Za-z]{32,62}$/;
