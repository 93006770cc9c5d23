import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { PaginationQueryDto } from '../../common/dto/pagination.dto.js';
import { IsText, Optional } from '../../common/dto/validators.js';

export class CreateOptOutDto {
  // Not the send examples' number: trying this route in Swagger UI must not block them (409 OPTED_OUT).
  @ApiProperty({ example: '0698765432', maxLength: 32, description: 'Any common format; stored as E.164' })
  @IsText({ max: 32 })
  phone: string;

  @ApiPropertyOptional({ example: 'Demande par courrier du 12/03', maxLength: 500, description: 'How consent was withdrawn' })
  @Optional()
  @IsText({ max: 500 })
  reason?: string;
}

// Filters carry a description, never an example: Swagger UI's "Try it out" would pre-fill it and filter the answer.
export class ListOptOutsQueryDto extends PaginationQueryDto {
  @ApiPropertyOptional({ type: String, maxLength: 32, description: 'One number, in any format (0612345678, +33612345678)' })
  @Optional()
  @IsText({ max: 32 })
  phone?: string;
}
