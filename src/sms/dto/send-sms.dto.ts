import { applyDecorators } from '@nestjs/common';
import { SMS_CATEGORIES } from '../stats/stats-query.dto.js';
import { ApiProperty, ApiPropertyOptional, type OpenAPIObject } from '@nestjs/swagger';
import { isSupportedCountry } from 'libphonenumber-js/max';
import { IsObject, ValidateBy } from 'class-validator';
import { IsIsoDateTime } from '../../common/dto/iso-date.js';
import { PaginationQueryDto } from '../../common/dto/pagination.dto.js';
import { IsObjectList, IsOneOf, IsText, Optional, textRule } from '../../common/dto/validators.js';
import { MAX_SMS_BODY_LENGTH } from '../encoding/sms-encoding.js';
import { BATCH_STATES, type BatchState } from '../sms-batches.service.js';
import { NOTIFICATION_TYPES } from '../templates/notification-types.js';

const PHONE_MAX = 32;
const RECIPIENTS_MESSAGE = 'must be an array of objects such as [{"phone": "+33612345678", "name": "Jean Dupont"}]';
const TOO_LONG = `must be at most ${MAX_SMS_BODY_LENGTH} characters (Twilio's limit)`;

/**
 * Tomorrow at 14:30 (+01:00): an example Swagger UI's "Try it out" can send as it is (a fixed date would soon be past, or
 * over 35 days ahead). Computed when the app starts, then again each time the document is served (`withCurrentSendAt`).
 */
function sendAtExample(now = new Date()): string {
  return `${new Date(now.getTime() + 86_400_000).toISOString().slice(0, 10)}T14:30:00+01:00`;
}

/**
 * The OpenAPI document with every `sendAt` example moved to the day after `now` (the document is built once, at boot:
 * after a day of uptime the boot's example would be refused as past). Changes the document in place and returns it.
 */
export function withCurrentSendAt(document: OpenAPIObject, now: Date): OpenAPIObject {
  for (const schema of Object.values(document.components?.schemas ?? {})) {
    const sendAt = (schema as { properties?: Record<string, { example?: unknown }> }).properties?.sendAt;
    if (sendAt && 'example' in sendAt) sendAt.example = sendAtExample(now);
  }
  return document;
}

/** Send later: the same property on send, notification and bulk. */
function SendAt(): PropertyDecorator {
  return applyDecorators(
    ApiPropertyOptional({
      type: String,
      format: 'date-time',
      example: sendAtExample(),
      description:
        'Send later: ISO 8601 with an offset, in the future, at most 35 days ahead. Answers 202 at once; ' +
        'cancel with POST /api/sms/messages/{id}/cancel (bulk: POST /api/sms/bulk/{batchId}/cancel)',
    }),
    Optional(),
    IsIsoDateTime({ dateOnly: false }),
  );
}

export class SendSmsDto {
  @ApiProperty({ example: '+33612345678', maxLength: PHONE_MAX, description: 'Any common format; national numbers default to France' })
  @IsText({ max: PHONE_MAX })
  to: string;

  @ApiProperty({ example: 'Votre message SMS ici', maxLength: MAX_SMS_BODY_LENGTH })
  @IsText({ max: MAX_SMS_BODY_LENGTH, tooLong: TOO_LONG })
  message: string;

  @SendAt()
  sendAt?: Date;
}

export class SendNotificationDto {
  @ApiProperty({ example: '+33612345678', maxLength: PHONE_MAX })
  @IsText({ max: PHONE_MAX })
  to: string;

  @ApiProperty({ enum: NOTIFICATION_TYPES, example: 'appointment_confirmed' })
  @IsOneOf(NOTIFICATION_TYPES)
  type: string;

  @ApiProperty({
    type: 'object',
    additionalProperties: { oneOf: [{ type: 'string' }, { type: 'number' }] },
    example: { name: 'Jean Dupont', date: 'lundi 15 janvier 2024', time: '14:30' },
    description:
      'Fields of the type (GET /api/sms/templates lists them), each text or a number (written as it is: 14.5 is "14.5"). ' +
      'Appointment types take date and time, or an ISO startsAt.',
  })
  @IsObject({ message: 'data must be an object such as {"name": "Jean Dupont"}' })
  data: Record<string, unknown>;

  @ApiPropertyOptional({ example: 'fr', maxLength: 10, description: 'Template language: fr (default) or en' })
  @Optional()
  @IsText({ max: 10 })
  locale?: string;

  @SendAt()
  sendAt?: Date;
}

const RECIPIENT_NAME_MAX = 120;

/** A bulk recipient, as documented; checked by SendBulkSmsDto's IsObjectList (one loop over the list, no instance per recipient). */
export class BulkRecipientDto {
  @ApiProperty({ example: '+33612345678', maxLength: PHONE_MAX, description: 'An invalid number is reported for this recipient only' })
  phone: string;

  @ApiPropertyOptional({ example: 'Jean Dupont', maxLength: RECIPIENT_NAME_MAX, description: 'Replaces {{name}} in the message' })
  name?: string;
}

export class SendBulkSmsDto {
  @ApiProperty({
    type: [BulkRecipientDto],
    example: [
      { phone: '+33612345678', name: 'Jean Dupont' },
      { phone: '+33687654321', name: 'Marie Martin' },
    ],
  })
  @IsObjectList(RECIPIENTS_MESSAGE, 'must hold at least one recipient', {
    phone: { rule: textRule({ max: PHONE_MAX, min: 0 }) },
    name: { rule: textRule({ max: RECIPIENT_NAME_MAX, min: 0 }), optional: true },
  })
  recipients: BulkRecipientDto[];

  @ApiProperty({
    example: 'Bonjour {{name}}, votre dossier est à jour.',
    maxLength: MAX_SMS_BODY_LENGTH,
    description: "{{name}} is replaced by each recipient's name (and tidily removed when there is none)",
  })
  @IsText({ max: MAX_SMS_BODY_LENGTH, tooLong: TOO_LONG })
  message: string;

  @SendAt()
  sendAt?: Date;

  @ApiPropertyOptional({
    enum: SMS_CATEGORIES,
    default: 'transactional',
    description:
      'marketing: SMS_MARKETING_STOP_MENTION is appended when missing (counted in segments) and the messages leave only within SMS_MARKETING_HOURS, never on a public holiday',
  })
  @Optional()
  @IsOneOf(SMS_CATEGORIES)
  category?: (typeof SMS_CATEGORIES)[number];
}

export class BatchMessagesQueryDto extends PaginationQueryDto {
  @ApiPropertyOptional({
    enum: BATCH_STATES,
    description: 'Only messages in this state (sent: taken by the provider, whatever its status)',
  })
  @Optional()
  @IsOneOf(BATCH_STATES)
  state?: BatchState;
}

export class FormatPhoneDto {
  @ApiProperty({ example: '0612345678', maxLength: PHONE_MAX })
  @IsText({ max: PHONE_MAX, min: 0 })
  phone: string;

  @ApiPropertyOptional({ example: 'FR', description: 'ISO country for national numbers (default DEFAULT_COUNTRY)' })
  @Optional()
  @ValidateBy({
    name: 'isPhoneCountry',
    // libphonenumber's list: an ISO code it has no numbering plan for ("XX", "AQ") is refused here, not answered valid: false.
    validator: {
      validate: (value: unknown) => typeof value === 'string' && /^[A-Za-z]{2}$/.test(value) && isSupportedCountry(value.toUpperCase()),
      defaultMessage: () => 'country must be the two-letter ISO code of a country with phone numbers, such as FR',
    },
  })
  country?: string;
}
