import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIsoDateTime } from '../../common/dto/iso-date.js';
import { PaginationQueryDto } from '../../common/dto/pagination.dto.js';
import { IsOneOf, IsText, Optional } from '../../common/dto/validators.js';
import { SUPPORTED_LOCALES } from '../templates/template-catalog.js';

// Filters carry a description, never an example: Swagger UI's "Try it out" would pre-fill it and filter the answer.
export class ListMessagesQueryDto extends PaginationQueryDto {
  @ApiPropertyOptional({ type: String, maxLength: 32, description: 'Recipient, in any format (0612345678, +33612345678…)' })
  @Optional()
  @IsText({ max: 32 })
  phone?: string;

  @ApiPropertyOptional({ type: String, maxLength: 24, description: 'pending, queued, accepted, sent, delivered, failed, dry-run…' })
  @Optional()
  @IsText({ max: 24 })
  status?: string;

  @ApiPropertyOptional({
    type: String,
    maxLength: 40,
    description: 'A notification type (appointment_confirmed…), or single / bulk / notification',
  })
  @Optional()
  @IsText({ max: 40 })
  type?: string;

  @ApiPropertyOptional({
    type: String,
    format: 'date-time',
    description: 'Stored at or after this instant (ISO 8601, e.g. 2030-01-01T00:00:00Z)',
  })
  @Optional()
  @IsIsoDateTime()
  since?: Date;

  @ApiPropertyOptional({ type: String, format: 'date-time', description: 'Stored at or before this instant (ISO 8601)' })
  @Optional()
  @IsIsoDateTime()
  until?: Date;
}

export class TemplatesQueryDto {
  @ApiPropertyOptional({
    enum: SUPPORTED_LOCALES,
    description: 'Language of the texts; without it, Accept-Language (en…) or French',
  })
  @Optional()
  @IsOneOf(SUPPORTED_LOCALES)
  locale?: string;
}
