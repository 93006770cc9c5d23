import { Body, Controller, Get, Patch, Post, Query } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiBody,
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiForbiddenResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import { CurrentActor, type Actor } from '../common/actor.js';
import { Roles } from '../common/decorators/roles.decorator.js';
import { UuidParam } from '../common/decorators/uuid-param.decorator.js';
import { ErrorResponseDto } from '../common/dto/error-response.dto.js';
import { PaginationQueryDto } from '../common/dto/pagination.dto.js';
import { CreateUserDto, UpdateUserDto, UserPageDto, UserView } from './dto/user.dto.js';
import { STAFF_ROLES } from './role.enum.js';

/**
 * "Try it out" bodies of PATCH: one change each. Without them Swagger UI fills in every field from the schema,
 * and a user who only meant to rename someone would also send a role, a password and `disabled`.
 */
const UPDATE_BODY = {
  name: { summary: 'Rename', value: { name: 'Marie Martin' } },
  phone: { summary: 'Change the phone number', value: { phone: '06 12 34 56 78' } },
  role: { summary: 'Change the role', value: { role: 'admin' } },
  disable: { summary: 'Disable (their tokens stop working)', value: { disabled: true } },
  password: { summary: 'Set a new password (earlier tokens stop working)', value: { password: 'a-new-long-password' } },
};
import { UsersService } from './users.service.js';
import { ApiDatabaseErrors } from '../common/decorators/api-database-errors.decorator.js';

@ApiTags('users')
@ApiBearerAuth()
@ApiUnauthorizedResponse({ type: ErrorResponseDto, description: 'Missing, invalid or expired token' })
@ApiForbiddenResponse({
  type: ErrorResponseDto,
  description: 'Role not allowed (admins manage users; only a superadmin grants admin roles)',
})
@ApiDatabaseErrors()
@Controller('users')
@Roles(...STAFF_ROLES)
export class UsersController {
  constructor(private readonly users: UsersService) {}

  @Post()
  @ApiOperation({ summary: 'Create a user', description: 'Only a superadmin creates admins and superadmins.' })
  @ApiCreatedResponse({ type: UserView })
  @ApiBadRequestResponse({ type: ErrorResponseDto, description: 'Invalid field (email, password under 12 characters, role, phone)' })
  @ApiConflictResponse({ type: ErrorResponseDto, description: 'The email is taken' })
  create(@Body() dto: CreateUserDto, @CurrentActor() actor: Actor): Promise<UserView> {
    return this.users.create(dto, actor);
  }

  @Get()
  @ApiOperation({ summary: 'List users (paginated)' })
  @ApiOkResponse({ type: UserPageDto })
  @ApiBadRequestResponse({ type: ErrorResponseDto, description: 'page or limit is not an integer in range' })
  list(@Query() query: PaginationQueryDto) {
    return this.users.list(query);
  }

  @Patch(':id')
  @ApiBody({ type: UpdateUserDto, examples: UPDATE_BODY })
  @ApiOperation({
    summary: 'Change role, password, name, phone or disabled',
    description:
      'Disabling or changing the password revokes earlier tokens. Your own password is not changed here (400 naming ' +
      '`password`): POST /api/auth/me/password asks for the current one.',
  })
  @ApiOkResponse({ type: UserView })
  @ApiBadRequestResponse({
    type: ErrorResponseDto,
    description:
      'Invalid field (null is refused for role, password and disabled; it clears name and phone), disabling yourself, or ' +
      'setting your own password',
  })
  @ApiNotFoundResponse({ type: ErrorResponseDto, description: 'No such user' })
  @ApiConflictResponse({ type: ErrorResponseDto, description: 'Would leave no active superadmin' })
  update(@UuidParam('id') id: string, @Body() dto: UpdateUserDto, @CurrentActor() actor: Actor): Promise<UserView> {
    return this.users.update(id, dto, actor);
  }
}
