import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsIn, IsInt, IsNotEmpty, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';
import { IsIsoDateTime } from '../../common/dto/iso-date.js';
import { PaginationQueryDto } from '../../common/dto/pagination.dto.js';
import { AppointmentStatus } from '../appointment.entity.js';

const trim = Transform(({ value }) => (typeof value === 'string' ? value.trim() : value));
export const CLIENT_LOCALES = ['fr', 'en'] as const;
const STATUSES = Object.values(AppointmentStatus);

export class CreateAppointmentDto {
  @ApiProperty({ example: 'Jean Dupont' })
  @trim
  @IsString()
  @IsNotEmpty()
  @MaxLength(120)
  clientName: string;

  @ApiProperty({ example: '06 12 34 56 78', description: 'Normalised to E.164 (France by default)' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(32)
  clientPhone: string;

  @ApiProperty({ example: '2030-01-15T13:30:00Z', description: 'ISO 8601; must be in the future' })
  @IsIsoDateTime()
  startsAt: Date;

  @ApiPropertyOptional({ example: 30, default: 30, minimum: 5, maximum: 1440 })
  @IsOptional()
  @IsInt()
  @Min(5)
  @Max(1440)
  durationMinutes?: number;

  @ApiPropertyOptional({ example: 'Cabinet Paris 11e' })
  @IsOptional()
  @trim
  @IsString()
  @MaxLength(200)
  location?: string;

  @ApiPropertyOptional({ example: 'Apporter les justificatifs' })
  @IsOptional()
  @IsString()
  @MaxLength(2000)
  notes?: string;

  @ApiPropertyOptional({ enum: CLIENT_LOCALES, default: 'fr', description: 'Language of the SMS the client receives' })
  @IsOptional()
  @IsIn(CLIENT_LOCALES, { message: `clientLocale must be one of: ${CLIENT_LOCALES.join(', ')}` })
  clientLocale?: string;
}

export class UpdateAppointmentDto {
  @ApiPropertyOptional({ example: 'Jean Dupont' })
  @IsOptional()
  @trim
  @IsString()
  @IsNotEmpty()
  @MaxLength(120)
  clientName?: string;

  @ApiPropertyOptional({ example: '+33612345678' })
  @IsOptional()
  @IsString()
  @IsNotEmpty()
  @MaxLength(32)
  clientPhone?: string;

  @ApiPropertyOptional({ example: '2030-01-16T09:00:00Z', description: 'Reschedules; a confirmed client is told by SMS' })
  @IsOptional()
  @IsIsoDateTime()
  startsAt?: Date;

  @ApiPropertyOptional({ example: 45 })
  @IsOptional()
  @IsInt()
  @Min(5)
  @Max(1440)
  durationMinutes?: number;

  @ApiPropertyOptional({ example: 'Cabinet Lyon' })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  location?: string;

  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @MaxLength(2000)
  notes?: string;

  @ApiPropertyOptional({ enum: CLIENT_LOCALES })
  @IsOptional()
  @IsIn(CLIENT_LOCALES, { message: `clientLocale must be one of: ${CLIENT_LOCALES.join(', ')}` })
  clientLocale?: string;
}

export class CancelAppointmentDto {
  @ApiPropertyOptional({ example: 'Indisponibilité du conseiller', description: 'Included in the cancellation SMS' })
  @IsOptional()
  @trim
  @IsString()
  @MaxLength(200)
  reason?: string;
}

export class ListAppointmentsQueryDto extends PaginationQueryDto {
  @ApiPropertyOptional({ enum: STATUSES })
  @IsOptional()
  @IsIn(STATUSES, { message: `status must be one of: ${STATUSES.join(', ')}` })
  status?: AppointmentStatus;

  @ApiPropertyOptional({ example: '2030-01-01T00:00:00Z', description: 'Starting at or after' })
  @IsOptional()
  @IsIsoDateTime()
  from?: Date;

  @ApiPropertyOptional({ example: '2030-01-31T23:59:59Z', description: 'Starting at or before' })
  @IsOptional()
  @IsIsoDateTime()
  to?: Date;

  @ApiPropertyOptional({ example: '0612345678' })
  @IsOptional()
  @IsString()
  @MaxLength(32)
  phone?: string;
}
