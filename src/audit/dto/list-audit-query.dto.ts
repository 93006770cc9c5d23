import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsEnum, IsOptional, IsString, MaxLength } from 'class-validator';
import { IsIsoDateTime } from '../../common/dto/iso-date.js';
import { PaginationQueryDto } from '../../common/dto/pagination.dto.js';
import { AuditAction } from '../audit-action.enum.js';

export class ListAuditQueryDto extends PaginationQueryDto {
  @ApiPropertyOptional({ enum: AuditAction, example: AuditAction.SendSms })
  @IsOptional()
  @IsEnum(AuditAction, { message: `action must be one of: ${Object.values(AuditAction).join(', ')}` })
  action?: AuditAction;

  @ApiPropertyOptional({ description: "The actor's user id or email", example: 'admin@example.com' })
  @IsOptional()
  @IsString()
  @MaxLength(254)
  actor?: string;

  @ApiPropertyOptional({ description: 'Entries at or after this instant (ISO 8601)', example: '2024-01-01T00:00:00Z' })
  @IsOptional()
  @IsIsoDateTime()
  from?: Date;

  @ApiPropertyOptional({ description: 'Entries at or before this instant (ISO 8601)', example: '2024-12-31T23:59:59Z' })
  @IsOptional()
  @IsIsoDateTime()
  to?: Date;
}
