import { ApiProperty } from '@nestjs/swagger';
import { IsText } from '../../common/dto/validators.js';
import { MIN_PASSWORD_LENGTH } from '../../users/dto/user.dto.js';

export class LoginDto {
  @ApiProperty({ example: 'admin@localhost', maxLength: 254 })
  @IsText({ max: 254 })
  email: string;

  @ApiProperty({ example: 'the password printed at first start, or ADMIN_PASSWORD', maxLength: 256 })
  @IsText({ max: 256 })
  password: string;
}

export class TokenResponseDto {
  @ApiProperty({ example: 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9…' })
  access_token: string;

  @ApiProperty({ example: 'Bearer' })
  token_type: 'Bearer';

  @ApiProperty({ type: 'integer', example: 3600, description: 'Lifetime in seconds' })
  expires_in: number;
}

/** POST /api/auth/me/password: the signed-in user's own password, proven by the current one. */
export class ChangePasswordDto {
  @ApiProperty({ maxLength: 256, example: 'the password used to sign in' })
  @IsText({ max: 256 })
  currentPassword: string;

  @ApiProperty({ minLength: MIN_PASSWORD_LENGTH, maxLength: 256, example: 'a-new-long-enough-password' })
  @IsText({ min: MIN_PASSWORD_LENGTH, max: 256 })
  newPassword: string;
}
