import { ApiProperty } from '@nestjs/swagger';
import { PageOf } from '../../common/dto/pagination.dto.js';

/** One journal entry. */
export class AuditEntryDto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ example: 'send_sms' }) action: string;
  @ApiProperty({ type: String, nullable: true, format: 'uuid' }) actorId: string | null;
  @ApiProperty({ type: String, nullable: true, example: 'admin@localhost' }) actorEmail: string | null;
  @ApiProperty({ type: String, nullable: true, example: 'superadmin' }) actorRole: string | null;
  @ApiProperty({ type: String, nullable: true, example: 'sms_message' }) targetType: string | null;
  @ApiProperty({ type: String, nullable: true }) targetId: string | null;
  @ApiProperty({ type: 'object', additionalProperties: true, nullable: true, description: 'What happened (number, status, SID, counts…)' })
  metadata: Record<string, unknown> | null;
  @ApiProperty({ type: String, nullable: true, example: '127.0.0.1' }) ip: string | null;
  @ApiProperty({ type: String, format: 'date-time' }) createdAt: Date;
}

export const AuditPageDto = PageOf(AuditEntryDto, 'AuditPageDto');
