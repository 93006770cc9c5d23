import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsNotEmpty, IsOptional, IsString, MaxLength } from 'class-validator';
import { PaginationQueryDto } from '../../common/dto/pagination.dto.js';

export class CreateOptOutDto {
  @ApiProperty({ example: '0612345678', description: 'Any common format; stored as E.164' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(32)
  phone: string;

  @ApiPropertyOptional({ example: 'Demande par courrier du 12/03', description: 'Why (how consent was withdrawn)' })
  @IsOptional()
  @IsString()
  @MaxLength(500)
  reason?: string;
}

export class ListOptOutsQueryDto extends PaginationQueryDto {
  @ApiPropertyOptional({ example: '0612345678', description: 'One number, in any format' })
  @IsOptional()
  @IsString()
  @MaxLength(32)
  phone?: string;
}
