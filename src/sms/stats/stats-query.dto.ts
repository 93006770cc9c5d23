import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional } from 'class-validator';
import { IsIsoDateTime } from '../../common/dto/iso-date.js';

export const SMS_KINDS = ['single', 'notification', 'bulk'] as const;
export const SMS_CATEGORIES = ['transactional', 'marketing'] as const;

export class SmsStatsQueryDto {
  @ApiPropertyOptional({ example: '2026-01-01T00:00:00Z', description: 'Messages created from (default: 30 days before until)' })
  @IsOptional()
  @IsIsoDateTime()
  since?: Date;

  @ApiPropertyOptional({ example: '2026-02-01T00:00:00Z', description: 'Messages created before (default: now)' })
  @IsOptional()
  @IsIsoDateTime()
  until?: Date;

  @ApiPropertyOptional({ enum: SMS_KINDS })
  @IsOptional()
  @IsIn(SMS_KINDS)
  kind?: (typeof SMS_KINDS)[number];

  @ApiPropertyOptional({ enum: SMS_CATEGORIES })
  @IsOptional()
  @IsIn(SMS_CATEGORIES)
  category?: (typeof SMS_CATEGORIES)[number];
}
