import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { PageOf } from '../../common/dto/pagination.dto.js';
import { IsBool, IsEmailAddress, IsOneOf, IsText, Nullable, Optional } from '../../common/dto/validators.js';
import { Role, ROLES } from '../role.enum.js';
import type { User } from '../user.entity.js';

export const MIN_PASSWORD_LENGTH = 12;
const trim = Transform(({ value }) => (typeof value === 'string' ? value.trim() : value));

export class CreateUserDto {
  @ApiProperty({ example: 'marie.martin@example.com', maxLength: 254 })
  // Lower-cased before its length is checked: the address is stored lower-cased, and some letters grow (`İ` is 2).
  @Transform(({ value }) => (typeof value === 'string' ? value.trim().toLowerCase() : value))
  @IsEmailAddress(254)
  email: string;

  @ApiProperty({ minLength: MIN_PASSWORD_LENGTH, maxLength: 256, example: 'correct-horse-battery' })
  @IsText({ min: MIN_PASSWORD_LENGTH, max: 256 })
  password: string;

  @ApiProperty({ enum: ROLES, example: Role.Admin })
  @IsOneOf(ROLES)
  role: Role;

  @ApiPropertyOptional({ example: 'Marie Martin', maxLength: 120 })
  @Optional()
  @trim
  @IsText({ max: 120, min: 0 })
  name?: string;

  @ApiPropertyOptional({ example: '0612345678', maxLength: 32, description: 'Normalised to E.164 (France by default)' })
  @Optional()
  @IsText({ max: 32, min: 0 })
  phone?: string;
}

/**
 * Every field may be left out (kept as is). `name` and `phone` may be null (or empty) to clear them; null is
 * refused for `role`, `password` and `disabled`, which always have a value.
 */
export class UpdateUserDto {
  @ApiPropertyOptional({ enum: ROLES })
  @Optional()
  @IsOneOf(ROLES)
  role?: Role;

  @ApiPropertyOptional({ minLength: MIN_PASSWORD_LENGTH, maxLength: 256 })
  @Optional()
  @IsText({ min: MIN_PASSWORD_LENGTH, max: 256 })
  password?: string;

  @ApiPropertyOptional({ type: String, example: 'Marie Martin', maxLength: 120, nullable: true, description: 'null or "" clears it' })
  @Nullable()
  @trim
  @IsText({ max: 120, min: 0 })
  name?: string | null;

  @ApiPropertyOptional({ type: String, example: '+33612345678', maxLength: 32, nullable: true, description: 'null or "" clears it' })
  @Nullable()
  @IsText({ max: 32, min: 0 })
  phone?: string | null;

  @ApiPropertyOptional({ type: Boolean, description: 'A disabled user cannot sign in; their tokens stop working' })
  @Optional()
  @IsBool()
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

export const UserPageDto = PageOf(UserView, 'UserPageDto');
