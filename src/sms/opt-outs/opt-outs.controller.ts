import { Body, Controller, Delete, Get, HttpStatus, Param, Post, Query, Res } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiCreatedResponse,
  ApiForbiddenResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { CurrentActor, type Actor } from '../../common/actor.js';
import { Roles } from '../../common/decorators/roles.decorator.js';
import { STAFF_ROLES } from '../../users/role.enum.js';
import { ErrorResponseDto } from '../../common/dto/error-response.dto.js';
import { OptOutCreatedDto, OptOutPageDto, OptOutRemovedDto } from './opt-out-responses.dto.js';
import { CreateOptOutDto, ListOptOutsQueryDto } from './opt-out.dto.js';
import { OptOutService } from './opt-out.service.js';
import { ApiDatabaseErrors } from '../../common/decorators/api-database-errors.decorator.js';

@ApiTags('sms')
@ApiUnauthorizedResponse({ type: ErrorResponseDto, description: 'Missing, invalid or expired token' })
@ApiForbiddenResponse({ type: ErrorResponseDto, description: 'Role not allowed' })
@ApiBearerAuth()
@Roles(...STAFF_ROLES)
@ApiDatabaseErrors()
@Controller('sms/opt-outs')
export class OptOutsController {
  constructor(private readonly optOuts: OptOutService) {}

  @Get()
  @ApiOperation({ summary: 'Numbers that must not be texted, newest first', description: 'Filter: phone.' })
  @ApiOkResponse({ type: OptOutPageDto })
  @ApiBadRequestResponse({ type: ErrorResponseDto, description: 'Invalid phone filter or page' })
  list(@Query() query: ListOptOutsQueryDto) {
    return this.optOuts.list(query);
  }

  @Post()
  @ApiOperation({
    summary: 'Record an opt-out by hand',
    description:
      'For consent withdrawn another way (a letter, a call; an alphanumeric sender cannot receive STOP). 201 when added, 200 with the existing entry when the number was already opted out. Journaled as sms_opt_out.',
  })
  @ApiCreatedResponse({ type: OptOutCreatedDto, description: 'Added' })
  @ApiOkResponse({ type: OptOutCreatedDto, description: 'Already on the list (unchanged, created: false)' })
  @ApiBadRequestResponse({ type: ErrorResponseDto, description: 'Invalid phone or reason' })
  async create(@Body() dto: CreateOptOutDto, @CurrentActor() actor: Actor, @Res({ passthrough: true }) reply: FastifyReply) {
    const { optOut, created } = await this.optOuts.addManual(dto.phone, dto.reason, actor);
    void reply.status(created ? HttpStatus.CREATED : HttpStatus.OK);
    return { ...optOut, created };
  }

  @Delete(':phone')
  @ApiOperation({
    summary: 'Remove a number from the list (opt back in)',
    description: 'The number in any format, URL-encoded (%2B33612345678). Answers the removed entry. Journaled as sms_opt_in.',
  })
  @ApiOkResponse({ type: OptOutRemovedDto, description: 'Removed' })
  @ApiBadRequestResponse({ type: ErrorResponseDto, description: 'Invalid phone' })
  @ApiNotFoundResponse({ type: ErrorResponseDto, description: 'The number is not on the list' })
  async remove(@Param('phone') phone: string, @CurrentActor() actor: Actor) {
    return { ...(await this.optOuts.removeManual(phone, actor)), removed: true };
  }
}
