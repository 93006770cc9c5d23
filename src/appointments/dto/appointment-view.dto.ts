import { ApiProperty } from '@nestjs/swagger';
import { DeliveryCountsDto } from '../../common/dto/delivery-counts.dto.js';
import { PageOf } from '../../common/dto/pagination.dto.js';
import { AppointmentStatus } from '../appointment.entity.js';

/** An appointment as the API answers it. */
export class AppointmentDto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ example: 'Jean Dupont' }) clientName: string;
  @ApiProperty({ example: '+33612345678' }) clientPhone: string;
  @ApiProperty({ example: 'fr' }) clientLocale: string;
  @ApiProperty({ type: String, format: 'date-time', example: '2030-01-15T13:30:00.000Z' }) startsAt: Date;
  @ApiProperty({ type: 'integer', example: 30 }) durationMinutes: number;
  @ApiProperty({ type: String, nullable: true, example: 'Cabinet Paris 11e' }) location: string | null;
  @ApiProperty({ type: String, nullable: true }) notes: string | null;
  @ApiProperty({ enum: AppointmentStatus }) status: AppointmentStatus;
  @ApiProperty({ type: String, nullable: true }) cancelReason: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true, description: 'When the reminder goes out; null when none is pending' })
  reminderDueAt: Date | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) reminderSentAt: Date | null;
  @ApiProperty({ type: String, nullable: true, format: 'uuid' }) createdById: string | null;
  @ApiProperty({ type: String, nullable: true }) createdByEmail: string | null;
  @ApiProperty({ type: String, format: 'date-time' }) createdAt: Date;
  @ApiProperty({ type: String, format: 'date-time' }) updatedAt: Date;
}

/** One SMS sent about an appointment, and its state. */
export class AppointmentMessageDto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ type: String, nullable: true, example: 'appointment_confirmed' }) type: string | null;
  @ApiProperty({ example: 'queued' }) status: string;
  @ApiProperty({ type: String, nullable: true }) sid: string | null;
  @ApiProperty({ type: String, nullable: true }) errorCode: string | null;
  @ApiProperty({ type: String, nullable: true }) errorMessage: string | null;
  @ApiProperty({ type: String, format: 'date-time' }) createdAt: Date;
}

export class AppointmentWithMessagesDto extends AppointmentDto {
  @ApiProperty({ type: [AppointmentMessageDto] }) messages: AppointmentMessageDto[];
  @ApiProperty({ type: DeliveryCountsDto }) delivery: DeliveryCountsDto;
}

export const AppointmentPageDto = PageOf(AppointmentDto, 'AppointmentPageDto');
