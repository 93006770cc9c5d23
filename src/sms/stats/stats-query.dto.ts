import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIsoDateTime } from '../../common/dto/iso-date.js';
import { IsOneOf, Optional } from '../../common/dto/validators.js';

export const SMS_KINDS = ['single', 'notification', 'bulk'] as const;
export const SMS_CATEGORIES = ['transactional', 'marketing'] as const;

// Filters carry a description, never an example: Swagger UI's "Try it out" would pre-fill it.
export class SmsStatsQueryDto {
  @ApiPropertyOptional({
    type: String,
    format: 'date-time',
    description: 'Messages created from this instant (default: 30 days before until)',
  })
  @Optional()
  @IsIsoDateTime()
  since?: Date;

  @ApiPropertyOptional({ type: String, format: 'date-time', description: 'Messages created before this instant (default: now)' })
  @Optional()
  @IsIsoDateTime()
  until?: Date;

  @ApiPropertyOptional({ enum: SMS_KINDS })
  @Optional()
  @IsOneOf(SMS_KINDS)
  kind?: (typeof SMS_KINDS)[number];

  @ApiPropertyOptional({ enum: SMS_CATEGORIES })
  @Optional()
  @IsOneOf(SMS_CATEGORIES)
  category?: (typeof SMS_CATEGORIES)[number];
}
