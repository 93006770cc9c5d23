import { Body, Controller, Get, HttpCode, HttpStatus, Patch, Post, Query } from '@nestjs/common';
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
import { ConflictResponseDto, ErrorResponseDto } from '../common/dto/error-response.dto.js';
import { STAFF_ROLES } from '../users/role.enum.js';
import { appointmentChange, SendQuota } from '../limits/send-quota.decorator.js';
import { AppointmentsService } from './appointments.service.js';
import { AppointmentDto, AppointmentPageDto, AppointmentWithMessagesDto } from './dto/appointment-view.dto.js';
import { CancelAppointmentDto, CreateAppointmentDto, ListAppointmentsQueryDto, UpdateAppointmentDto } from './dto/appointment.dto.js';
import { ApiDatabaseErrors } from '../common/decorators/api-database-errors.decorator.js';

/** A refused transition (409), with an example that speaks of the action it documents. */
function conflict(message: string, currentStatus: string) {
  return ApiConflictResponse({
    type: ConflictResponseDto,
    description: 'Impossible transition; the body gives currentStatus',
    example: { statusCode: 409, error: 'Conflict', message, currentStatus },
  });
}
/**
 * "Try it out" bodies of PATCH: one change each. Without them Swagger UI fills in every field from the schema,
 * and a user who only meant to add a note would also overwrite the client's name and number and reschedule.
 */
const UPDATE_BODY = {
  notes: { summary: 'Add a note (no SMS)', value: { notes: "Apporter l'ordonnance" } },
  reschedule: { summary: 'Reschedule (a confirmed client is told by SMS)', value: { startsAt: '2030-01-16T09:00:00+01:00' } },
  location: { summary: 'Change the place', value: { location: 'Cabinet Lyon' } },
  duration: { summary: 'Change the duration', value: { durationMinutes: 45 } },
};
const INVALID_ID = ApiBadRequestResponse({ type: ErrorResponseDto, description: 'id is not a UUID, or an invalid field' });
const NOT_FOUND = ApiNotFoundResponse({ type: ErrorResponseDto, description: 'No such appointment' });

@ApiTags('appointments')
@ApiBearerAuth()
@ApiUnauthorizedResponse({ type: ErrorResponseDto, description: 'Missing, invalid or expired token' })
@ApiForbiddenResponse({ type: ErrorResponseDto, description: 'Only admin and superadmin manage appointments' })
@ApiDatabaseErrors()
@Controller('appointments')
@Roles(...STAFF_ROLES)
export class AppointmentsController {
  constructor(private readonly appointments: AppointmentsService) {}

  @Post()
  @ApiOperation({ summary: 'Create an appointment (pending)' })
  @ApiCreatedResponse({ type: AppointmentDto, description: 'The appointment with its id' })
  @ApiBadRequestResponse({ type: ErrorResponseDto, description: 'Invalid field, invalid phone, or startsAt in the past' })
  create(@Body() dto: CreateAppointmentDto, @CurrentActor() actor: Actor) {
    return this.appointments.create(dto, actor);
  }

  @Get()
  @ApiOperation({ summary: 'List appointments by start time', description: 'Filters: status, from, to (start time range), phone.' })
  @ApiOkResponse({ type: AppointmentPageDto })
  @ApiBadRequestResponse({ type: ErrorResponseDto, description: 'Invalid filter, page or limit' })
  list(@Query() query: ListAppointmentsQueryDto) {
    return this.appointments.list(query);
  }

  @Get(':id')
  @ApiOperation({ summary: 'One appointment, with the SMS sent about it and their states' })
  @ApiOkResponse({ type: AppointmentWithMessagesDto })
  @INVALID_ID
  @NOT_FOUND
  get(@UuidParam('id') id: string) {
    return this.appointments.getWithMessages(id);
  }

  @Patch(':id')
  @SendQuota(appointmentChange)
  @ApiBody({ type: UpdateAppointmentDto, examples: UPDATE_BODY })
  @ApiOperation({ summary: 'Edit or reschedule', description: 'Moving a confirmed appointment texts the client and moves its reminder.' })
  @ApiOkResponse({ type: AppointmentDto, description: 'The updated appointment' })
  @INVALID_ID
  @NOT_FOUND
  @conflict('A cancelled appointment cannot be edited', 'cancelled')
  update(@UuidParam('id') id: string, @Body() dto: UpdateAppointmentDto, @CurrentActor() actor: Actor) {
    return this.appointments.update(id, dto, actor);
  }

  @Post(':id/confirm')
  @HttpCode(HttpStatus.OK)
  @SendQuota()
  @ApiOperation({ summary: 'Confirm', description: 'Texts the client (appointment_confirmed) and schedules the reminder.' })
  @ApiOkResponse({ type: AppointmentDto, description: 'The confirmed appointment' })
  @INVALID_ID
  @NOT_FOUND
  @conflict('A confirmed appointment cannot be confirmed', 'confirmed')
  confirm(@UuidParam('id') id: string, @CurrentActor() actor: Actor) {
    return this.appointments.confirm(id, actor);
  }

  @Post(':id/cancel')
  @HttpCode(HttpStatus.OK)
  @SendQuota()
  @ApiOperation({ summary: 'Cancel', description: 'Texts the client (appointment_cancelled) and drops the reminder.' })
  // No body at all cancels without a reason.
  @ApiBody({ type: CancelAppointmentDto, required: false })
  @ApiOkResponse({ type: AppointmentDto, description: 'The cancelled appointment' })
  @INVALID_ID
  @NOT_FOUND
  @conflict('A cancelled appointment cannot be cancelled', 'cancelled')
  cancel(@UuidParam('id') id: string, @Body() dto: CancelAppointmentDto, @CurrentActor() actor: Actor) {
    return this.appointments.cancel(id, dto.reason, actor);
  }

  @Post(':id/complete')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    summary: 'Mark as done',
    description: 'Once its start has passed: no SMS; a waiting SMS about it is not sent. 409 before its start, or once cancelled.',
  })
  @ApiOkResponse({ type: AppointmentDto, description: 'The completed appointment' })
  @INVALID_ID
  @NOT_FOUND
  @conflict('This appointment has not started yet and cannot be completed', 'confirmed')
  complete(@UuidParam('id') id: string, @CurrentActor() actor: Actor) {
    return this.appointments.complete(id, actor);
  }
}
