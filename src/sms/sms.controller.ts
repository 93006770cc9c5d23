import { Body, Controller, Get, Headers, HttpCode, HttpStatus, Param, ParseUUIDPipe, Post, Query, Res, UseFilters } from '@nestjs/common';
import {
  ApiBadGatewayResponse,
  ApiAcceptedResponse,
  ApiBadRequestResponse,
  ApiConflictResponse,
  ApiBearerAuth,
  ApiCreatedResponse,
  ApiForbiddenResponse,
  ApiGatewayTimeoutResponse,
  ApiHeader,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiServiceUnavailableResponse,
  ApiTags,
  ApiUnauthorizedResponse,
  ApiUnprocessableEntityResponse,
} from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { CurrentActor, type Actor } from '../common/actor.js';
import { Roles } from '../common/decorators/roles.decorator.js';
import { STAFF_ROLES } from '../users/role.enum.js';
import { ListMessagesQueryDto } from './dto/list-messages-query.dto.js';
import { BatchMessagesQueryDto, FormatPhoneDto, SendBulkSmsDto, SendNotificationDto, SendSmsDto } from './dto/send-sms.dto.js';
import { SmsBatchesService } from './sms-batches.service.js';
import { PhoneNumberService } from './phone/phone-number.service.js';
import { SmsExceptionFilter } from './sms-exception.filter.js';
import { SmsMessagesService } from './sms-messages.service.js';
import { SmsService } from './sms.service.js';
import type { SmsSendResult } from './sms.types.js';
import { SmsTemplateService } from './templates/sms-template.service.js';

const SEND_EXAMPLE = {
  state: 'sent',
  id: '3f1c2a9e-5b7d-4c1e-9a0b-2d4e6f8a1c3e',
  sid: 'SM0123456789abcdef0123456789abcdef',
  status: 'queued',
  to: '+33612345678',
  from: '+33700000000',
  segments: 1,
  encoding: 'GSM-7',
  ucs2Characters: [],
  provider: 'twilio',
  body: 'Votre message SMS ici',
};
const QUEUED_EXAMPLE = {
  ...SEND_EXAMPLE,
  state: 'queued',
  sid: null,
  status: 'queued',
  notBefore: '2030-01-15T13:30:00.000Z',
  attempts: 0,
  lastError: null,
};
const QUEUED_DESCRIPTION =
  'Accepted, not sent yet: sendAt in the future, or Twilio did not take it within SMS_SEND_WAIT_MS (retries, slow answer). Poll GET /api/sms/messages/:id';

/** 201 once the provider took it, 202 while it is still waiting in the outbox. */
function answer(reply: FastifyReply, result: SmsSendResult): SmsSendResult {
  void reply.status(result.state === 'sent' ? HttpStatus.CREATED : HttpStatus.ACCEPTED);
  return result;
}

const TWILIO_ERROR_EXAMPLE = {
  statusCode: 400,
  error: 'Bad Request',
  message: 'Le numéro du destinataire est invalide.',
  hint: 'Vérifiez le format du numéro (par exemple +33612345678).',
  code: '21211',
  more_info: 'https://www.twilio.com/docs/errors/21211',
  providerMessage: "The 'To' number +15005550001 is not a valid phone number.",
  messageId: '3f1c2a9e-5b7d-4c1e-9a0b-2d4e6f8a1c3e',
  to: '+15005550001',
};

@ApiTags('sms')
@ApiBearerAuth()
@ApiUnauthorizedResponse({ description: 'Missing, invalid or expired token' })
@ApiHeader({ name: 'Accept-Language', required: false, description: 'fr (default) or en: the language of error explanations' })
@UseFilters(SmsExceptionFilter)
@Controller('sms')
export class SmsController {
  constructor(
    private readonly sms: SmsService,
    private readonly messages: SmsMessagesService,
    private readonly batches: SmsBatchesService,
    private readonly templates: SmsTemplateService,
    private readonly phones: PhoneNumberService,
  ) {}

  @Post('send')
  @Roles(...STAFF_ROLES)
  @ApiOperation({ summary: 'Send one SMS', description: 'Admin and superadmin. Journaled as send_sms.' })
  @ApiCreatedResponse({ description: 'Accepted by the provider', schema: { example: SEND_EXAMPLE } })
  @ApiBadRequestResponse({ description: 'Invalid number or message, or Twilio 21211', schema: { example: TWILIO_ERROR_EXAMPLE } })
  @ApiForbiddenResponse({ description: 'Role not allowed, or Twilio 21608 / 21408 / 21610' })
  @ApiUnprocessableEntityResponse({ description: 'Twilio 21614 (not a mobile) / 21612 (unreachable)' })
  @ApiBadGatewayResponse({ description: 'Twilio refused the credentials (20003), failed (5xx) or could not be reached' })
  @ApiServiceUnavailableResponse({ description: 'Twilio rate limit (20429 / 429); see Retry-After' })
  @ApiGatewayTimeoutResponse({ description: 'Twilio did not answer in time' })
  @ApiAcceptedResponse({ description: QUEUED_DESCRIPTION, schema: { example: QUEUED_EXAMPLE } })
  async send(@Body() dto: SendSmsDto, @CurrentActor() actor: Actor, @Res({ passthrough: true }) reply: FastifyReply) {
    return answer(reply, await this.sms.send(dto.to, dto.message, { actor, sendAt: dto.sendAt }));
  }

  @Post('notification')
  @Roles(...STAFF_ROLES)
  @ApiOperation({
    summary: 'Send a templated notification SMS',
    description: 'Types and fields: GET /api/sms/templates. Journaled as send_notification_sms.',
  })
  @ApiCreatedResponse({ schema: { example: SEND_EXAMPLE } })
  @ApiBadRequestResponse({ description: 'Unknown type (the answer lists the types), missing field (named), invalid number' })
  @ApiAcceptedResponse({ description: QUEUED_DESCRIPTION, schema: { example: QUEUED_EXAMPLE } })
  async sendNotification(@Body() dto: SendNotificationDto, @CurrentActor() actor: Actor, @Res({ passthrough: true }) reply: FastifyReply) {
    return answer(reply, await this.sms.sendNotification(dto.to, dto.type, dto.data, { actor, locale: dto.locale, sendAt: dto.sendAt }));
  }

  @Post('bulk')
  @Roles(...STAFF_ROLES)
  @HttpCode(HttpStatus.ACCEPTED)
  @ApiOperation({
    summary: 'Send one message to many recipients (accepted at once, sent in the background)',
    description:
      '{{name}} is personalised; duplicates (same number once normalised) are sent once; an invalid number is reported by its index. ' +
      'Every message is written in one transaction, then sent within SMS_MAX_CONCURRENCY and SMS_MAX_PER_SECOND. ' +
      'Follow it with GET /api/sms/bulk/:batchId. Journaled as send_bulk_sms at acceptance and at its end.',
  })
  @ApiAcceptedResponse({
    schema: {
      example: {
        batchId: 'b7e0c4d2-1f3a-4b5c-8d9e-0a1b2c3d4e5f',
        status: 'running',
        provider: 'twilio',
        total: 3,
        queued: 2,
        segments: 2,
        notBefore: null,
        invalid: [{ index: 2, phone: '0612', code: 'TOO_SHORT', message: 'phone is too short' }],
        duplicates: [],
      },
    },
  })
  @ApiBadRequestResponse({ description: 'No recipients, more than SMS_BULK_MAX_RECIPIENTS, an empty message, or a bad sendAt' })
  sendBulk(@Body() dto: SendBulkSmsDto, @CurrentActor() actor: Actor) {
    return this.sms.sendBulk(dto.recipients, dto.message, { actor, sendAt: dto.sendAt });
  }

  @Get('bulk/:batchId')
  @Roles(...STAFF_ROLES)
  @ApiOperation({ summary: 'A bulk batch: counts per state, progress, times, status (running, completed, cancelled)' })
  @ApiNotFoundResponse({ description: 'No such batch' })
  getBatch(@Param('batchId', new ParseUUIDPipe()) batchId: string) {
    return this.batches.view(batchId);
  }

  @Get('bulk/:batchId/messages')
  @Roles(...STAFF_ROLES)
  @ApiOperation({ summary: "A bulk batch's messages, oldest first, paged, optionally in one state" })
  @ApiNotFoundResponse({ description: 'No such batch' })
  getBatchMessages(@Param('batchId', new ParseUUIDPipe()) batchId: string, @Query() query: BatchMessagesQueryDto) {
    return this.batches.listMessages(batchId, query);
  }

  @Post('bulk/:batchId/cancel')
  @Roles(...STAFF_ROLES)
  @HttpCode(HttpStatus.OK)
  @ApiOperation({ summary: 'Cancel what has not left of a batch (marked cancelled); messages in flight finish' })
  @ApiNotFoundResponse({ description: 'No such batch' })
  @ApiConflictResponse({ description: 'The batch already completed or was cancelled' })
  cancelBatch(@Param('batchId', new ParseUUIDPipe()) batchId: string) {
    return this.sms.cancelBatch(batchId);
  }

  @Post('format-phone')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({ summary: 'Format a phone number', description: 'Any signed-in user. 0612345678 → +33612345678.' })
  @ApiOkResponse({
    schema: {
      example: {
        input: '0612345678',
        e164: '+33612345678',
        valid: true,
        country: 'FR',
        type: 'MOBILE',
        national: '06 12 34 56 78',
        international: '+33 6 12 34 56 78',
      },
    },
  })
  formatPhone(@Body() dto: FormatPhoneDto) {
    return this.phones.format(dto.phone, dto.country);
  }

  @Get('templates')
  @Roles(...STAFF_ROLES)
  @ApiOperation({ summary: 'Notification types, their fields and a rendered example' })
  templatesList(@Query('locale') locale?: string, @Headers('accept-language') acceptLanguage?: string) {
    return this.templates.list(locale ?? (acceptLanguage?.toLowerCase().startsWith('en') ? 'en' : 'fr'));
  }

  @Get('messages')
  @Roles(...STAFF_ROLES)
  @ApiOperation({
    summary: 'Stored SMS, newest first',
    description: 'Filters: phone, status, type (notification type, or single / bulk), since, until.',
  })
  listMessages(@Query() query: ListMessagesQueryDto) {
    return this.messages.list(query);
  }

  @Get('messages/:id')
  @Roles(...STAFF_ROLES)
  @ApiOperation({ summary: 'One stored SMS' })
  @ApiNotFoundResponse({ description: 'No such message' })
  getMessage(@Param('id', new ParseUUIDPipe()) id: string) {
    return this.messages.get(id);
  }

  @Post('messages/:id/cancel')
  @Roles(...STAFF_ROLES)
  @HttpCode(HttpStatus.OK)
  @ApiOperation({ summary: 'Cancel a message that has not left (send later, waiting for a retry)' })
  @ApiNotFoundResponse({ description: 'No such message' })
  @ApiConflictResponse({ description: 'It already left (or failed, or was cancelled): currentStatus says which' })
  cancelMessage(@Param('id', new ParseUUIDPipe()) id: string) {
    return this.sms.cancel(id);
  }
}
