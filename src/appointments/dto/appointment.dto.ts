import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsIsoDateTime, IsNotBefore } from '../../common/dto/iso-date.js';
import { PaginationQueryDto } from '../../common/dto/pagination.dto.js';
import { IsIntegerInRange, IsOneOf, IsText, Nullable, Optional } from '../../common/dto/validators.js';
import { AppointmentStatus } from '../appointment.entity.js';

const trim = Transform(({ value }) => (typeof value === 'string' ? value.trim() : value));
export const CLIENT_LOCALES = ['fr', 'en'] as const;
const STATUSES = Object.values(AppointmentStatus);
const MIN_DURATION = 5;
const MAX_DURATION = 1440;

export class CreateAppointmentDto {
  @ApiProperty({ example: 'Jean Dupont', maxLength: 120 })
  @trim
  @IsText({ max: 120, visible: true, noPlaceholder: true })
  clientName: string;

  @ApiProperty({ example: '06 12 34 56 78', maxLength: 32, description: 'Normalised to E.164 (France by default)' })
  @IsText({ max: 32 })
  clientPhone: string;

  @ApiProperty({
    type: String,
    format: 'date-time',
    example: '2030-01-15T13:30:00Z',
    description: 'ISO 8601 with a time and an offset (a date alone would book midnight); must be in the future',
  })
  @IsIsoDateTime({ dateOnly: false })
  startsAt: Date;

  @ApiPropertyOptional({ type: 'integer', example: 30, default: 30, minimum: MIN_DURATION, maximum: MAX_DURATION })
  @Optional()
  @IsIntegerInRange(MIN_DURATION, MAX_DURATION)
  durationMinutes?: number;

  @ApiPropertyOptional({ example: 'Cabinet Paris 11e', maxLength: 200 })
  @Optional()
  @trim
  @IsText({ max: 200, min: 0, noPlaceholder: true })
  location?: string;

  @ApiPropertyOptional({ example: 'Apporter les justificatifs', maxLength: 2000 })
  @Optional()
  @IsText({ max: 2000, min: 0 })
  notes?: string;

  @ApiPropertyOptional({ enum: CLIENT_LOCALES, default: 'fr', description: 'Language of the SMS the client receives' })
  @Optional()
  @IsOneOf(CLIENT_LOCALES)
  clientLocale?: string;
}

/**
 * Every field may be left out (kept as is). `location` and `notes` may be null (or empty) to clear them; null is
 * refused for the other fields, which always have a value.
 */
export class UpdateAppointmentDto {
  @ApiPropertyOptional({ example: 'Jean Dupont', maxLength: 120 })
  @Optional()
  @trim
  @IsText({ max: 120, visible: true, noPlaceholder: true })
  clientName?: string;

  @ApiPropertyOptional({ example: '+33612345678', maxLength: 32 })
  @Optional()
  @IsText({ max: 32 })
  clientPhone?: string;

  @ApiPropertyOptional({
    type: String,
    format: 'date-time',
    example: '2030-01-16T09:00:00Z',
    description: 'Reschedules (a time and an offset: a date alone would mean midnight); a confirmed client is told by SMS',
  })
  @Optional()
  @IsIsoDateTime({ dateOnly: false })
  startsAt?: Date;

  @ApiPropertyOptional({ type: 'integer', example: 45, minimum: MIN_DURATION, maximum: MAX_DURATION })
  @Optional()
  @IsIntegerInRange(MIN_DURATION, MAX_DURATION)
  durationMinutes?: number;

  @ApiPropertyOptional({ type: String, example: 'Cabinet Lyon', maxLength: 200, nullable: true, description: 'null or "" clears it' })
  @Nullable()
  @trim
  @IsText({ max: 200, min: 0, noPlaceholder: true })
  location?: string | null;

  @ApiPropertyOptional({ type: String, maxLength: 2000, nullable: true, description: 'null or "" clears it' })
  @Nullable()
  @IsText({ max: 2000, min: 0 })
  notes?: string | null;

  @ApiPropertyOptional({ enum: CLIENT_LOCALES })
  @Optional()
  @IsOneOf(CLIENT_LOCALES)
  clientLocale?: string;
}

export class CancelAppointmentDto {
  @ApiPropertyOptional({ example: 'Indisponibilité du conseiller', maxLength: 200, description: 'Included in the cancellation SMS' })
  @Optional()
  @trim
  @IsText({ max: 200, min: 0, noPlaceholder: true })
  reason?: string;
}

// Filters carry a description, never an example: Swagger UI's "Try it out" would pre-fill it and filter the answer.
export class ListAppointmentsQueryDto extends PaginationQueryDto {
  @ApiPropertyOptional({ enum: STATUSES })
  @Optional()
  @IsOneOf(STATUSES)
  status?: AppointmentStatus;

  @ApiPropertyOptional({
    type: String,
    format: 'date-time',
    description: 'Starting at or after this instant (ISO 8601, e.g. 2030-01-01T00:00:00Z)',
  })
  @Optional()
  @IsIsoDateTime()
  from?: Date;

  @ApiPropertyOptional({
    type: String,
    format: 'date-time',
    description:
      "Starting before this instant (ISO 8601; excluded: a date alone is that day's midnight, so `from=2030-01-15&to=2030-01-16` is one whole day)",
  })
  @Optional()
  @IsIsoDateTime()
  @IsNotBefore('from')
  to?: Date;

  @ApiPropertyOptional({ type: String, maxLength: 32, description: "The client's number, in any format" })
  @Optional()
  @IsText({ max: 32 })
  phone?: string;
}
