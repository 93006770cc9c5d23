import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsBoolean, IsEmail, IsEnum, IsOptional, IsString, MaxLength, MinLength } from 'class-validator';
import { Role, ROLES } from '../role.enum.js';
import type { User } from '../user.entity.js';

export const MIN_PASSWORD_LENGTH = 12;
const trim = Transform(({ value }) => (typeof value === 'string' ? value.trim() : value));

export class CreateUserDto {
  @ApiProperty({ example: 'marie.martin@example.com' })
  @trim
  @IsEmail({}, { message: 'email must be an email address' })
  @MaxLength(254)
  email: string;

  @ApiProperty({ minLength: MIN_PASSWORD_LENGTH, example: 'correct-horse-battery' })
  @IsString()
  @MinLength(MIN_PASSWORD_LENGTH, { message: `password must be at least ${MIN_PASSWORD_LENGTH} characters long` })
  @MaxLength(256)
  password: string;

  @ApiProperty({ enum: ROLES, example: Role.Admin })
  @IsEnum(Role, { message: `role must be one of: ${ROLES.join(', ')}` })
  role: Role;

  @ApiPropertyOptional({ example: 'Marie Martin' })
  @IsOptional()
  @trim
  @IsString()
  @MaxLength(120)
  name?: string;

  @ApiPropertyOptional({ example: '0612345678', description: 'Normalised to E.164 (France by default)' })
  @IsOptional()
  @IsString()
  @MaxLength(32)
  phone?: string;
}

export class UpdateUserDto {
  @ApiPropertyOptional({ enum: ROLES })
  @IsOptional()
  @IsEnum(Role, { message: `role must be one of: ${ROLES.join(', ')}` })
  role?: Role;

  @ApiPropertyOptional({ minLength: MIN_PASSWORD_LENGTH })
  @IsOptional()
  @IsString()
  @MinLength(MIN_PASSWORD_LENGTH, { message: `password must be at least ${MIN_PASSWORD_LENGTH} characters long` })
  @MaxLength(256)
  password?: string;

  @ApiPropertyOptional({ example: 'Marie Martin', nullable: true })
  @IsOptional()
  @trim
  @IsString()
  @MaxLength(120)
  name?: string;

  @ApiPropertyOptional({ example: '+33612345678', nullable: true })
  @IsOptional()
  @IsString()
  @MaxLength(32)
  phone?: string;

  @ApiPropertyOptional({ description: 'A disabled user cannot sign in; their tokens stop working' })
  @IsOptional()
  @IsBoolean()
  disabled?: boolean;
}

/** What the API shows of a user: never the password hash. */
export class UserView {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ example: 'marie.martin@example.com' }) email: string;
  @ApiProperty({ enum: ROLES }) role: Role;
  @ApiProperty({ nullable: true, type: String }) name: string | null;
  @ApiProperty({ nullable: true, type: String, example: '+33612345678' }) phone: string | null;
  @ApiProperty() disabled: boolean;
  @ApiProperty() createdAt: Date;
  @ApiProperty() updatedAt: Date;

  static from(user: User): UserView {
    return {
      id: user.id,
      email: user.email,
      role: user.role,
      name: user.name,
      phone: user.phone,
      disabled: user.disabled,
      createdAt: user.createdAt,
      updatedAt: user.updatedAt,
    };
  }
}
