import { Body, Controller, Get, HttpCode, HttpStatus, Param, ParseUUIDPipe, Patch, Post, Query } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
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
import { STAFF_ROLES } from '../users/role.enum.js';
import { AppointmentsService } from './appointments.service.js';
import { CancelAppointmentDto, CreateAppointmentDto, ListAppointmentsQueryDto, UpdateAppointmentDto } from './dto/appointment.dto.js';

const CONFLICT = {
  description: 'Impossible transition; the body gives currentStatus',
  schema: {
    example: { statusCode: 409, error: 'Conflict', message: 'A cancelled appointment cannot be cancelled', currentStatus: 'cancelled' },
  },
};

@ApiTags('appointments')
@ApiBearerAuth()
@ApiUnauthorizedResponse({ description: 'Missing, invalid or expired token' })
@ApiForbiddenResponse({ description: 'Only admin and superadmin manage appointments' })
@Controller('appointments')
@Roles(...STAFF_ROLES)
export class AppointmentsController {
  constructor(private readonly appointments: AppointmentsService) {}

  @Post()
  @ApiOperation({ summary: 'Create an appointment (pending)' })
  @ApiCreatedResponse({ description: 'The appointment with its id' })
  @ApiBadRequestResponse({ description: 'Invalid field, invalid phone, or startsAt in the past' })
  create(@Body() dto: CreateAppointmentDto, @CurrentActor() actor: Actor) {
    return this.appointments.create(dto, actor);
  }

  @Get()
  @ApiOperation({ summary: 'List appointments by start time', description: 'Filters: status, from, to (start time range), phone.' })
  list(@Query() query: ListAppointmentsQueryDto) {
    return this.appointments.list(query);
  }

  @Get(':id')
  @ApiOperation({ summary: 'One appointment, with the SMS sent about it and their states' })
  @ApiNotFoundResponse({ description: 'No such appointment' })
  get(@Param('id', new ParseUUIDPipe()) id: string) {
    return this.appointments.getWithMessages(id);
  }

  @Patch(':id')
  @ApiOperation({ summary: 'Edit or reschedule', description: 'Moving a confirmed appointment texts the client and moves its reminder.' })
  @ApiOkResponse({ description: 'The updated appointment' })
  @ApiConflictResponse(CONFLICT)
  update(@Param('id', new ParseUUIDPipe()) id: string, @Body() dto: UpdateAppointmentDto, @CurrentActor() actor: Actor) {
    return this.appointments.update(id, dto, actor);
  }

  @Post(':id/confirm')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({ summary: 'Confirm', description: 'Texts the client (appointment_confirmed) and schedules the reminder.' })
  @ApiConflictResponse(CONFLICT)
  confirm(@Param('id', new ParseUUIDPipe()) id: string, @CurrentActor() actor: Actor) {
    return this.appointments.confirm(id, actor);
  }

  @Post(':id/cancel')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({ summary: 'Cancel', description: 'Texts the client (appointment_cancelled) and drops the reminder.' })
  @ApiConflictResponse(CONFLICT)
  cancel(@Param('id', new ParseUUIDPipe()) id: string, @Body() dto: CancelAppointmentDto, @CurrentActor() actor: Actor) {
    return this.appointments.cancel(id, dto.reason, actor);
  }
}
