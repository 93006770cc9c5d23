import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMinSize,
  IsArray,
  IsIn,
  IsNotEmpty,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  MaxLength,
  ValidateNested,
} from 'class-validator';
import { PaginationQueryDto } from '../../common/dto/pagination.dto.js';
import { MAX_SMS_BODY_LENGTH } from '../encoding/sms-encoding.js';
import { BATCH_STATES, type BatchState } from '../sms-batches.service.js';
import { NOTIFICATION_TYPES } from '../templates/notification-types.js';

const PHONE_MAX = 32;

export class SendSmsDto {
  @ApiProperty({ example: '+33612345678', description: 'Any common format; national numbers default to France' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(PHONE_MAX)
  to: string;

  @ApiProperty({ example: 'Votre message SMS ici', maxLength: MAX_SMS_BODY_LENGTH })
  @IsString()
  @IsNotEmpty()
  @MaxLength(MAX_SMS_BODY_LENGTH, { message: `message must be at most ${MAX_SMS_BODY_LENGTH} characters (Twilio's limit)` })
  message: string;

  @ApiPropertyOptional({
    example: '2030-01-15T14:30:00+01:00',
    description:
      'Send later: ISO 8601 with an offset, in the future, at most 35 days ahead. Answers 202 at once; cancel with POST /api/sms/messages/:id/cancel',
  })
  @IsOptional()
  @IsString()
  @MaxLength(40)
  sendAt?: string;
}

export class SendNotificationDto {
  @ApiProperty({ example: '+33612345678' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(PHONE_MAX)
  to: string;

  @ApiProperty({ enum: NOTIFICATION_TYPES, example: 'appointment_confirmed' })
  @IsIn(NOTIFICATION_TYPES, { message: `type must be one of: ${NOTIFICATION_TYPES.join(', ')}` })
  type: string;

  @ApiProperty({
    example: { name: 'Jean Dupont', date: 'lundi 15 janvier 2024', time: '14:30' },
    description: 'Fields of the type (GET /api/sms/templates lists them). Appointment types take date and time, or an ISO startsAt.',
  })
  @IsObject({ message: 'data must be an object such as {"name": "Jean Dupont"}' })
  data: Record<string, unknown>;

  @ApiPropertyOptional({ example: 'fr', description: 'Template language: fr (default) or en' })
  @IsOptional()
  @IsString()
  @MaxLength(10)
  locale?: string;

  @ApiPropertyOptional({
    example: '2030-01-15T14:30:00+01:00',
    description:
      'Send later: ISO 8601 with an offset, in the future, at most 35 days ahead. Answers 202 at once; cancel with POST /api/sms/messages/:id/cancel',
  })
  @IsOptional()
  @IsString()
  @MaxLength(40)
  sendAt?: string;
}

export class BulkRecipientDto {
  @ApiProperty({ example: '+33612345678' })
  @IsString()
  @MaxLength(PHONE_MAX)
  phone: string;

  @ApiPropertyOptional({ example: 'Jean Dupont' })
  @IsOptional()
  @IsString()
  @MaxLength(120)
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
  @IsArray()
  @ArrayMinSize(1)
  @ValidateNested({ each: true })
  @Type(() => BulkRecipientDto)
  recipients: BulkRecipientDto[];

  @ApiProperty({ example: 'Message pour tous les destinataires', description: "{{name}} is replaced by each recipient's name" })
  @IsString()
  @IsNotEmpty()
  @MaxLength(MAX_SMS_BODY_LENGTH, { message: `message must be at most ${MAX_SMS_BODY_LENGTH} characters (Twilio's limit)` })
  message: string;

  @ApiPropertyOptional({
    example: '2030-01-15T14:30:00+01:00',
    description:
      'Send later: ISO 8601 with an offset, in the future, at most 35 days ahead. Answers 202 at once; cancel with POST /api/sms/messages/:id/cancel',
  })
  @IsOptional()
  @IsString()
  @MaxLength(40)
  sendAt?: string;
}

export class BatchMessagesQueryDto extends PaginationQueryDto {
  @ApiPropertyOptional({
    enum: BATCH_STATES,
    description: 'Only messages in this state (sent: taken by the provider, whatever its status)',
  })
  @IsOptional()
  @IsIn(BATCH_STATES, { message: `state must be one of: ${BATCH_STATES.join(', ')}` })
  state?: BatchState;
}

export class FormatPhoneDto {
  @ApiProperty({ example: '0612345678' })
  @IsString()
  @MaxLength(PHONE_MAX)
  phone: string;

  @ApiPropertyOptional({ example: 'FR', description: 'ISO country for national numbers (default DEFAULT_COUNTRY)' })
  @IsOptional()
  @Matches(/^[A-Za-z]{2}$/, { message: 'country must be a two-letter ISO country code such as FR' })
  country?: string;
}
