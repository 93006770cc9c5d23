import { Body, Controller, Get, HttpCode, HttpStatus, Post } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiConflictResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
  ApiTooManyRequestsResponse,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import { ClientIp, CurrentActor, type Actor } from '../common/actor.js';
import { Public } from '../common/decorators/public.decorator.js';
import { BodyLimit, LOGIN_BODY_LIMIT } from '../common/http/body-limit.decorator.js';
import { ErrorResponseDto } from '../common/dto/error-response.dto.js';
import { UserView } from '../users/dto/user.dto.js';
import { UsersService } from '../users/users.service.js';
import { AuthService } from './auth.service.js';
import { ChangePasswordDto, LoginDto, TokenResponseDto } from './dto/login.dto.js';
import { ApiDatabaseErrors } from '../common/decorators/api-database-errors.decorator.js';

@ApiTags('auth')
@ApiDatabaseErrors()
@Controller('auth')
export class AuthController {
  constructor(
    private readonly auth: AuthService,
    private readonly users: UsersService,
  ) {}

  @Public()
  @Post('login')
  @BodyLimit(LOGIN_BODY_LIMIT)
  @HttpCode(HttpStatus.OK)
  @ApiOperation({ summary: 'Sign in', description: 'Paste access_token in "Authorize" to call the other routes.' })
  @ApiOkResponse({ type: TokenResponseDto })
  @ApiBadRequestResponse({ type: ErrorResponseDto, description: 'email or password missing or not a string' })
  @ApiUnauthorizedResponse({ type: ErrorResponseDto, description: 'Invalid email or password (same answer for both)' })
  @ApiTooManyRequestsResponse({
    type: ErrorResponseDto,
    description: 'Too many failed attempts for this email or IP, or too many sign-ins from this IP in a minute; see Retry-After',
  })
  login(@Body() dto: LoginDto, @ClientIp() ip: string): Promise<TokenResponseDto> {
    return this.auth.login(dto.email, dto.password, ip);
  }

  @Post('me/password')
  @BodyLimit(LOGIN_BODY_LIMIT)
  @HttpCode(HttpStatus.OK)
  @ApiBearerAuth()
  @ApiOperation({
    summary: 'Change your own password',
    description:
      'Proven by the current password. Every token issued so far stops working, this one too: the answer carries a new one. A wrong current password counts against the sign-in throttle.',
  })
  @ApiOkResponse({ type: TokenResponseDto })
  @ApiBadRequestResponse({
    type: ErrorResponseDto,
    description: 'currentPassword wrong, newPassword too short or long, or the same as currentPassword',
  })
  @ApiUnauthorizedResponse({ type: ErrorResponseDto, description: 'Missing, invalid or expired token' })
  @ApiConflictResponse({
    type: ErrorResponseDto,
    description: 'The account changed meanwhile (an admin reset or disabled it, or another change of yours applied first): sign in again',
  })
  @ApiTooManyRequestsResponse({ type: ErrorResponseDto, description: 'Too many wrong passwords for this account or IP; see Retry-After' })
  changePassword(@Body() dto: ChangePasswordDto, @CurrentActor() actor: Actor, @ClientIp() ip: string): Promise<TokenResponseDto> {
    return this.auth.changePassword(actor, dto.currentPassword, dto.newPassword, ip);
  }

  @Get('me')
  @ApiBearerAuth()
  @ApiOperation({ summary: 'The signed-in user' })
  @ApiOkResponse({ type: UserView })
  @ApiUnauthorizedResponse({ type: ErrorResponseDto, description: 'Missing, invalid or expired token' })
  async me(@CurrentActor() actor: Actor): Promise<UserView> {
    return UserView.from((await this.users.findById(actor.id))!);
  }
}
