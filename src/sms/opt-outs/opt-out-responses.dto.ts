import { ApiProperty } from '@nestjs/swagger';
import { PageOf } from '../../common/dto/pagination.dto.js';
import { OptOutSource } from './sms-opt-out.entity.js';

/** A number on the opt-out list. */
export class OptOutDto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ example: '+33612345678' }) phone: string;
  @ApiProperty() optedOutAt: Date;
  @ApiProperty({ enum: OptOutSource, example: OptOutSource.Keyword }) source: OptOutSource;
  @ApiProperty({ type: String, nullable: true, example: 'STOP', description: 'The keyword, the reason given by hand, or Twilio 21610' })
  reason: string | null;
  @ApiProperty({ type: String, nullable: true, format: 'uuid' }) actorId: string | null;
  @ApiProperty({ type: String, nullable: true }) actorEmail: string | null;
}

export class OptOutCreatedDto extends OptOutDto {
  @ApiProperty({ description: 'false when the number was already on the list (the entry is unchanged)' }) created: boolean;
}

export class OptOutRemovedDto extends OptOutDto {
  @ApiProperty({ example: true }) removed: boolean;
}

export const OptOutPageDto = PageOf(OptOutDto, 'OptOutPageDto');
