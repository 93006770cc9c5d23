import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, MaxLength } from 'class-validator';
import { IsIsoDateTime } from '../../common/dto/iso-date.js';
import { PaginationQueryDto } from '../../common/dto/pagination.dto.js';

export class ListMessagesQueryDto extends PaginationQueryDto {
  @ApiPropertyOptional({ example: '0612345678', description: 'Recipient, in any format' })
  @IsOptional()
  @IsString()
  @MaxLength(32)
  phone?: string;

  @ApiPropertyOptional({ example: 'failed', description: 'pending, queued, accepted, sent, failed, dry-run…' })
  @IsOptional()
  @IsString()
  @MaxLength(24)
  status?: string;

  @ApiPropertyOptional({ example: 'appointment_confirmed', description: 'A notification type, or single / bulk' })
  @IsOptional()
  @IsString()
  @MaxLength(40)
  type?: string;

  @ApiPropertyOptional({ example: '2024-01-01T00:00:00Z' })
  @IsOptional()
  @IsIsoDateTime()
  since?: Date;

  @ApiPropertyOptional({ example: '2024-12-31T23:59:59Z' })
  @IsOptional()
  @IsIsoDateTime()
  until?: Date;
}
