import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIsoDateTime, IsNotBefore } from '../../common/dto/iso-date.js';
import { PaginationQueryDto } from '../../common/dto/pagination.dto.js';
import { IsOneOf, IsText, Optional } from '../../common/dto/validators.js';
import { AuditAction } from '../audit-action.enum.js';

// Filters carry a description, never an example: Swagger UI's "Try it out" would pre-fill it and filter the answer.
export class ListAuditQueryDto extends PaginationQueryDto {
  @ApiPropertyOptional({ enum: AuditAction, description: 'Only this action (send_sms, login_success…)' })
  @Optional()
  @IsOneOf(Object.values(AuditAction))
  action?: AuditAction;

  @ApiPropertyOptional({ type: String, maxLength: 254, description: "The actor's user id or email" })
  @Optional()
  @IsText({ max: 254 })
  actor?: string;

  @ApiPropertyOptional({
    type: String,
    format: 'date-time',
    description: 'Entries at or after this instant (ISO 8601, e.g. 2030-01-01T00:00:00Z)',
  })
  @Optional()
  @IsIsoDateTime()
  from?: Date;

  @ApiPropertyOptional({
    type: String,
    format: 'date-time',
    description:
      "Entries before this instant (ISO 8601; excluded: a date alone is that day's midnight, so `from=2030-01-15&to=2030-01-16` is one whole day)",
  })
  @Optional()
  @IsIsoDateTime()
  @IsNotBefore('from')
  to?: Date;
}
