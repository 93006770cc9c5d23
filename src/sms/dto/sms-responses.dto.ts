import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { PageOf } from '../../common/dto/pagination.dto.js';
import { NOTIFICATION_TYPES } from '../templates/notification-types.js';

/** What a send answers (POST /api/sms/send and /api/sms/notification). */
export class SmsSendResultDto {
  @ApiProperty({ format: 'uuid', description: 'Our id of the stored message (GET /api/sms/messages/{id})' })
  id: string;

  @ApiProperty({ example: 'SM0123456789abcdef0123456789abcdef', description: "Twilio's SID (SMDRYRUN… in dry-run)" })
  sid: string;

  @ApiProperty({ example: 'queued', description: "The provider's status" })
  status: string;

  @ApiProperty({ example: '+33612345678', description: 'The recipient, E.164' })
  to: string;

  @ApiProperty({ type: String, nullable: true, example: '+33700000000', description: 'The sender used' })
  from: string | null;

  @ApiProperty({ type: 'integer', example: 1 })
  segments: number;

  @ApiProperty({ enum: ['GSM-7', 'UCS-2'] })
  encoding: string;

  @ApiProperty({ type: [String], example: [], description: 'Characters that forced UCS-2' })
  ucs2Characters: string[];

  @ApiPropertyOptional({ example: 'UCS-2 because of ê: 2 segments (1 segment without it)' })
  encodingNote?: string;

  @ApiProperty({ example: 'twilio', description: 'twilio or dry-run' })
  provider: string;

  @ApiProperty({ example: 'Votre message SMS ici', description: 'The text sent (a notification: the rendered template)' })
  body: string;
}

export class BulkRecipientErrorDto {
  @ApiProperty({ example: '21211' })
  code: string;

  @ApiProperty({ example: 'Le numéro du destinataire est invalide.' })
  message: string;
}

export class BulkRecipientResultDto {
  @ApiProperty({ example: '+33612345678', description: 'As given' })
  phone: string;

  @ApiPropertyOptional({ example: 'Jean Dupont' })
  name?: string;

  @ApiProperty({ type: String, nullable: true, example: '+33612345678', description: 'E.164; null when invalid' })
  to: string | null;

  @ApiProperty({ enum: ['sent', 'failed', 'invalid', 'duplicate'] })
  status: string;

  @ApiPropertyOptional({ format: 'uuid' })
  id?: string;

  @ApiPropertyOptional({ example: 'SM0123456789abcdef0123456789abcdef' })
  sid?: string;

  @ApiPropertyOptional({ example: 'queued' })
  providerStatus?: string;

  @ApiPropertyOptional({ type: 'integer', example: 1 })
  segments?: number;

  @ApiPropertyOptional({ type: BulkRecipientErrorDto })
  error?: BulkRecipientErrorDto;
}

export class BulkResultDto {
  @ApiProperty({ format: 'uuid' })
  batchId: string;

  @ApiProperty({ example: 'twilio' })
  provider: string;

  @ApiProperty({ type: 'integer', example: 2 })
  total: number;

  @ApiProperty({ type: 'integer', example: 2 })
  sent: number;

  @ApiProperty({ type: 'integer', example: 0 })
  failed: number;

  @ApiProperty({ type: 'integer', example: 0 })
  invalid: number;

  @ApiProperty({ type: 'integer', example: 0 })
  duplicates: number;

  @ApiProperty({ type: 'integer', example: 2, description: 'Segments sent in all' })
  segments: number;

  @ApiProperty({ type: [BulkRecipientResultDto] })
  results: BulkRecipientResultDto[];
}

export class PhoneProblemDto {
  @ApiProperty({ enum: ['NOT_A_NUMBER', 'INVALID_COUNTRY', 'TOO_SHORT', 'TOO_LONG', 'INVALID_LENGTH', 'INVALID_NUMBER'] })
  code: string;

  @ApiProperty({ example: 'is too short' })
  message: string;
}

export class FormatPhoneResultDto {
  @ApiProperty({ example: '0612345678' })
  input: string;

  @ApiProperty({ type: String, nullable: true, example: '+33612345678' })
  e164: string | null;

  @ApiProperty()
  valid: boolean;

  @ApiProperty({ type: String, nullable: true, example: 'FR' })
  country: string | null;

  @ApiProperty({ type: String, nullable: true, example: 'MOBILE' })
  type: string | null;

  @ApiProperty({ type: String, nullable: true, example: '06 12 34 56 78' })
  national: string | null;

  @ApiProperty({ type: String, nullable: true, example: '+33 6 12 34 56 78' })
  international: string | null;

  @ApiPropertyOptional({ type: PhoneProblemDto, description: 'Why the number is not valid' })
  reason?: PhoneProblemDto;
}

export class TemplateFieldDto {
  @ApiProperty({ example: 'name' })
  name: string;

  @ApiProperty()
  required: boolean;

  @ApiPropertyOptional({ example: 'startsAt', description: 'Required unless this other field is given' })
  requiredUnless?: string;

  @ApiProperty({ example: 'Le nom du client' })
  description: string;

  @ApiProperty({ example: 'Jean Dupont' })
  example: string;
}

export class TemplateExampleDto {
  @ApiProperty({ type: 'object', additionalProperties: { type: 'string' }, example: { name: 'Jean Dupont' } })
  data: Record<string, string>;

  @ApiProperty({ example: 'Bonjour Jean Dupont, …' })
  text: string;
}

export class TemplateDescriptionDto {
  @ApiProperty({ enum: NOTIFICATION_TYPES })
  type: string;

  @ApiProperty()
  description: string;

  @ApiProperty({ type: [TemplateFieldDto] })
  fields: TemplateFieldDto[];

  @ApiProperty({ type: TemplateExampleDto })
  example: TemplateExampleDto;
}

/** A stored SMS (sms_messages). */
export class SmsMessageDto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ example: '+33612345678' }) to: string;
  @ApiProperty({ type: String, nullable: true }) from: string | null;
  @ApiProperty() body: string;
  @ApiProperty({ enum: ['single', 'notification', 'bulk'] }) kind: string;
  @ApiProperty({ type: String, nullable: true, example: 'appointment_confirmed' }) templateType: string | null;
  @ApiProperty({ type: String, nullable: true, example: 'fr' }) locale: string | null;
  @ApiProperty({ type: String, nullable: true, format: 'uuid' }) batchId: string | null;
  @ApiProperty({ type: String, nullable: true, example: 'appointment' }) relatedType: string | null;
  @ApiProperty({ type: String, nullable: true }) relatedId: string | null;
  @ApiProperty({ example: 'twilio' }) provider: string;
  @ApiProperty({ example: 'queued' }) status: string;
  @ApiProperty({ type: String, nullable: true }) providerSid: string | null;
  @ApiProperty({ type: String, nullable: true, example: '21211' }) errorCode: string | null;
  @ApiProperty({ type: String, nullable: true }) errorMessage: string | null;
  @ApiProperty({ type: 'integer' }) segments: number;
  @ApiProperty({ example: 'GSM-7' }) encoding: string;
  @ApiProperty({ type: String, nullable: true, format: 'uuid' }) actorId: string | null;
  @ApiProperty({ type: String, nullable: true }) actorEmail: string | null;
  @ApiProperty({ type: 'integer' }) attempts: number;
  @ApiProperty({ enum: ['transactional', 'marketing'] }) category: string;
  @ApiProperty() createdAt: Date;
  @ApiProperty() updatedAt: Date;
}

/** One status Twilio reported for a message (status callback). */
export class SmsStatusHistoryEntryDto {
  @ApiProperty({ example: 'delivered' }) status: string;
  @ApiProperty({ type: String, nullable: true, example: '30003' }) errorCode: string | null;
  @ApiProperty({ type: String, nullable: true, description: "The error code in plain words, in the caller's language" })
  errorExplanation: string | null;
  @ApiProperty({ description: 'Whether it moved the message (false for a late or repeated status)' }) applied: boolean;
  @ApiProperty({ description: 'When the callback was received' }) at: Date;
}

/** One stored SMS with what happened to it after the send. */
export class SmsMessageDetailDto extends SmsMessageDto {
  @ApiProperty({ type: String, nullable: true, description: "errorCode in plain words, in the caller's language" })
  errorExplanation: string | null;
  @ApiProperty({ type: [SmsStatusHistoryEntryDto], description: 'The statuses Twilio reported, in the order they came' })
  history: SmsStatusHistoryEntryDto[];
}

export const SmsMessagePageDto = PageOf(SmsMessageDto, 'SmsMessagePageDto');
