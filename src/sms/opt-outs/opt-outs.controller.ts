import { Body, Controller, Delete, Get, HttpCode, HttpStatus, Param, Post, Query, Res } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { CurrentActor, type Actor } from '../../common/actor.js';
import { Roles } from '../../common/decorators/roles.decorator.js';
import { STAFF_ROLES } from '../../users/role.enum.js';
import { CreateOptOutDto, ListOptOutsQueryDto } from './opt-out.dto.js';
import { OptOutService } from './opt-out.service.js';

const EXAMPLE = {
  id: '6a1f…',
  phone: '+33612345678',
  optedOutAt: '2026-03-12T09:30:00.000Z',
  source: 'keyword',
  reason: 'STOP',
  actorId: null,
  actorEmail: null,
};

@ApiTags('sms opt-outs')
@ApiBearerAuth()
@Roles(...STAFF_ROLES)
@Controller('sms/opt-outs')
export class OptOutsController {
  constructor(private readonly optOuts: OptOutService) {}

  @Get()
  @ApiOperation({ summary: 'Numbers that must not be texted, newest first', description: 'Admin and superadmin. Filter: phone.' })
  @ApiOkResponse({ schema: { example: { items: [EXAMPLE], total: 1, page: 1, limit: 50 } } })
  list(@Query() query: ListOptOutsQueryDto) {
    return this.optOuts.list(query);
  }

  @Post()
  @ApiOperation({
    summary: 'Record an opt-out by hand',
    description:
      'For consent withdrawn another way (a letter, a call; an alphanumeric sender cannot receive STOP). 201 when added, 200 with the existing entry when the number was already opted out. Journaled as sms_opt_out.',
  })
  @ApiCreatedResponse({ schema: { example: { ...EXAMPLE, source: 'manual', reason: 'Demande par courrier', created: true } } })
  @ApiBadRequestResponse({ description: 'Invalid phone' })
  async create(@Body() dto: CreateOptOutDto, @CurrentActor() actor: Actor, @Res({ passthrough: true }) reply: FastifyReply) {
    const { optOut, created } = await this.optOuts.addManual(dto.phone, dto.reason, actor);
    void reply.status(created ? HttpStatus.CREATED : HttpStatus.OK);
    return { ...optOut, created };
  }

  @Delete(':phone')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({ summary: 'Remove a number from the list (opt back in)', description: 'Journaled as sms_opt_in.' })
  @ApiNoContentResponse({ description: 'Removed' })
  @ApiNotFoundResponse({ description: 'The number is not on the list' })
  remove(@Param('phone') phone: string, @CurrentActor() actor: Actor) {
    return this.optOuts.removeManual(phone, actor);
  }
}
